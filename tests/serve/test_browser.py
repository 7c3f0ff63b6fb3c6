"""The demo page in a real browser: Debian's headless Chromium (or Chrome) driven by Selenium
through chromedriver (nothing is downloaded at run time). Skipped without them
(``apt-get install chromium chromium-driver`` and ``pip install selenium``), except under CI
(``CI=true``), where ``.ci/run`` installs them and their absence is a failure."""
import os
import select
import shutil
import subprocess
import sys
import time

import pytest
from conftest import EXAMPLE_WAV

try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None

BROWSER_NAMES = ('chromium', 'chromium-browser', 'google-chrome')
SERVER_CODE = 'from modelscope_frcrn.serve import serve; serve(port=0)'
READY_PREFIX = 'serving the FRCRN demo on '
RESULT_TIMEOUT_S = 180


def first_program(names) -> str:
    """The path of the first of ``names`` on PATH, or ''."""
    return next(filter(None, map(shutil.which, names)), '')


CHROMIUM = first_program(BROWSER_NAMES)
CHROMEDRIVER = first_program(['chromedriver'])
MISSING = [what for what, found in ((' or '.join(BROWSER_NAMES), CHROMIUM),
                                    ('chromedriver', CHROMEDRIVER),
                                    ('selenium (pip install selenium)', webdriver)) if not found]
IN_CI = os.environ.get('CI', '').lower() == 'true'
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(bool(MISSING) and not IN_CI, reason=f'needs {", ".join(MISSING)}: '
                       'apt-get install chromium chromium-driver; pip install selenium'),
]


@pytest.fixture(scope='module', autouse=True)
def browser_installed():
    """Under CI the browser tests must run: a missing browser is a failure, not a skip."""
    if MISSING:
        pytest.fail(f'CI=true but {", ".join(MISSING)} not found; .ci/run installs them')


@pytest.fixture(scope='module')
def url():
    """The real command's server, with the shipped model, on a free port in a subprocess."""
    process = subprocess.Popen([sys.executable, '-u', '-c', SERVER_CODE], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        yield wait_for_url(process)
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_url(process: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        line = process.stdout.readline() if ready else ''
        if line.startswith(READY_PREFIX):
            return line[len(READY_PREFIX):].split()[0]
        if process.poll() is not None:
            raise AssertionError(f'the server exited with code {process.returncode}')
    raise AssertionError(f'the server did not start within {timeout} s')


def headless_chromium(*arguments: str):
    """Headless Chromium through chromedriver, with a fake microphone allowed without asking
    (a beeping tone, unless ``arguments`` give it a file); quit it when done."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                     '--window-size=1200,900', '--mute-audio',
                     '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
                     *arguments):
        options.add_argument(argument)
    return webdriver.Chrome(options=options,
                            service=webdriver.ChromeService(executable_path=CHROMEDRIVER))


@pytest.fixture(scope='module')
def browser():
    driver = headless_chromium()
    try:
        yield driver
    finally:
        driver.quit()


def visible(driver, element_id: str) -> bool:
    return driver.find_element(By.ID, element_id).is_displayed()


def wait_for_result(driver) -> None:
    WebDriverWait(driver, RESULT_TIMEOUT_S).until(
        lambda d: d.find_element(By.ID, 'timing').text or visible(d, 'error'))
    assert not visible(driver, 'error'), driver.find_element(By.ID, 'error').text


def image_width(driver, element_id: str) -> int:
    return driver.execute_script(
        'const image = document.getElementById(arguments[0]);'
        'return image.complete ? image.naturalWidth : 0;', element_id)


def audio_duration(driver, element_id: str) -> float:
    """The duration in seconds of the audio element's media, once its metadata loaded."""
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(
        'return document.getElementById(arguments[0]).readyState >= 1', element_id))
    return driver.execute_script('return document.getElementById(arguments[0]).duration',
                                 element_id)


def test_upload_the_example_and_get_it_denoised(browser, url, tmp_path):
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: visible(d, 'example'))  # the page's config loaded
    browser.find_element(By.ID, 'file').send_keys(str(EXAMPLE_WAV))
    wait_for_result(browser)

    assert 'Denoised 9.2 s of 16 kHz audio (spectrograms up to 8 kHz) in' in browser.find_element(By.ID, 'timing').text
    for element_id in ('input-spectrogram', 'enhanced-spectrogram'):
        WebDriverWait(browser, 10).until(lambda d: image_width(d, element_id) > 0)
        assert image_width(browser, element_id) == 571  # one column per STFT frame
    assert audio_duration(browser, 'enhanced-audio') == pytest.approx(9.16)
    download = browser.find_element(By.ID, 'download')
    assert download.get_attribute('download') == 'speech_with_noise_enhanced.wav'
    assert download.text == 'Download the enhanced WAV (286 KB)'  # as the 293,164-byte input

    screenshot = tmp_path / 'serve.png'
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000


def test_the_example_button_runs_the_bundled_example(browser, url):
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: visible(d, 'example'))
    browser.find_element(By.ID, 'example').click()
    wait_for_result(browser)
    assert browser.find_element(By.ID, 'input-name').text == '(speech_with_noise.wav)'
    assert image_width(browser, 'enhanced-spectrogram') > 0


def test_a_recording_from_the_microphone_is_denoised(browser, url):
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: visible(d, 'example'))
    record = browser.find_element(By.ID, 'record')
    record.click()
    WebDriverWait(browser, 10).until(lambda d: record.text == 'Stop recording')
    time.sleep(2)  # how long the fake microphone records
    record.click()
    wait_for_result(browser)
    assert browser.find_element(By.ID, 'input-name').text == '(recording.wav)'
    # the page's 16 kHz WAV of the recording reached the server, and all of it came back
    recorded, enhanced = (audio_duration(browser, element_id)
                          for element_id in ('input-audio', 'enhanced-audio'))
    assert recorded > 0.5
    assert enhanced == pytest.approx(recorded, abs=1e-3)
    seconds = float(browser.find_element(By.ID, 'timing').text.split()[1])
    assert seconds == pytest.approx(recorded, abs=0.051)
    assert image_width(browser, 'enhanced-spectrogram') > 0


def test_a_non_audio_upload_shows_the_servers_message(browser, url, tmp_path):
    text_file = tmp_path / 'notes.wav'
    text_file.write_text('not audio at all')
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: visible(d, 'example'))
    browser.find_element(By.ID, 'file').send_keys(str(text_file))
    WebDriverWait(browser, 30).until(lambda d: visible(d, 'error'))
    assert browser.find_element(By.ID, 'error').text.startswith('cannot decode the upload as audio')
    assert not visible(browser, 'enhanced-spectrogram')
