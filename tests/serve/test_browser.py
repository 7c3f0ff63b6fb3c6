"""The demo page in a real browser: Debian's headless Chromium driven by Selenium through
Debian's chromedriver (nothing is downloaded at run time). Skipped without them:
``apt-get install chromium chromium-driver`` and ``pip install selenium``."""
import select
import shutil
import subprocess
import sys
import time

import pytest
from conftest import EXAMPLE_WAV

CHROMIUM = shutil.which('chromium')
CHROMEDRIVER = shutil.which('chromedriver')
SERVER_CODE = 'from modelscope_frcrn.serve import serve; serve(port=0)'
READY_PREFIX = 'serving the FRCRN demo on '
RESULT_TIMEOUT_S = 180

webdriver = pytest.importorskip('selenium.webdriver', reason='needs selenium: pip install selenium')
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason='needs Debian chromium and chromedriver: '
                              'apt-get install chromium chromium-driver'),
]

from selenium.webdriver.common.by import By  # noqa: E402  (after the skip)
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


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


@pytest.fixture(scope='module')
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                     '--window-size=1200,900', '--mute-audio',
                     # a fake microphone (a beeping tone), allowed without asking
                     '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
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


def test_upload_the_example_and_get_it_denoised(browser, url, tmp_path):
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: visible(d, 'example'))  # the page's config loaded
    browser.find_element(By.ID, 'file').send_keys(str(EXAMPLE_WAV))
    wait_for_result(browser)

    assert 'Denoised 9.2 s of audio in' in browser.find_element(By.ID, 'timing').text
    for element_id in ('input-spectrogram', 'enhanced-spectrogram'):
        WebDriverWait(browser, 10).until(lambda d: image_width(d, element_id) > 0)
        assert image_width(browser, element_id) == 571  # one column per STFT frame
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(
        "return document.getElementById('enhanced-audio').readyState >= 1"))
    assert browser.execute_script(
        "return document.getElementById('enhanced-audio').duration") == pytest.approx(9.16)
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
    time.sleep(2)
    record.click()
    wait_for_result(browser)
    assert browser.find_element(By.ID, 'input-name').text == '(recording.wav)'
    seconds = float(browser.find_element(By.ID, 'timing').text.split()[1])
    assert 1.5 < seconds < 4  # the page's 16 kHz WAV of the recording reached the server
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
