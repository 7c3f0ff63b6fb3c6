// The demo page: send an audio file to /api/denoise and show what comes back.
'use strict';

const $ = (id) => document.getElementById(id);
const MODEL_RATE = 16000;
let config = {max_upload_bytes: 10 * 1024 * 1024, example: null};
let recorder = null;
let objectUrls = [];
let busy = false;

async function init() {
  config = await (await fetch('/api/config')).json();
  $('limit').textContent = `${megabytes(config.max_upload_bytes)} MB and ${(config.max_seconds / 60).toFixed(1)} min`;
  $('example').hidden = !config.example;
  $('file').addEventListener('change', () => {
    const file = $('file').files[0];
    $('file').value = '';
    if (file) submit(file, file.name);
  });
  $('example').addEventListener('click', useExample);
  $('strength').addEventListener('input', () => { $('strength-value').textContent = strength().text; });
  $('record').addEventListener('click', toggleRecording);
  $('live').addEventListener('click', toggleLive);
  document.addEventListener('dragover', (event) => {
    event.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    document.body.classList.remove('dragging');
    const file = event.dataTransfer.files[0];
    if (file) submit(file, file.name);
  });
}

async function useExample() {
  const response = await fetch(config.example);
  if (!response.ok) return showError(`cannot load the example (HTTP ${response.status})`);
  submit(await response.blob(), config.example.split('/').pop());
}

async function submit(blob, name) {
  if (busy) return;
  reset();
  if (blob.size > config.max_upload_bytes) {
    return showError(`the file is ${megabytes(blob.size)} MB; the limit is ${megabytes(config.max_upload_bytes)} MB`);
  }
  setBusy(true);
  $('results').hidden = false;
  $('input-name').textContent = `(${name})`;
  $('input-audio').src = track(blob);
  const started = performance.now();
  const tick = () => { $('status').textContent = `Denoising ${name}… ${elapsed(started)} s`; };
  tick();
  const timer = setInterval(tick, 250);
  try {
    showResult(await denoise(blob), name, started);
  } catch (error) {
    showError(error.message);
  } finally {
    clearInterval(timer);
    setBusy(false);
  }
}

// The strength slider: the most any part of the sound is attenuated (--atten-limit).
const STRENGTHS = [
  {limit: null, text: 'all the model can'},
  {limit: 24, text: 'at most 24 dB'},
  {limit: 12, text: 'at most 12 dB (keeps some background)'},
  {limit: 6, text: 'at most 6 dB (gentle)'},
];

function strength() {
  return STRENGTHS[Number($('strength').value)] || STRENGTHS[0];
}

async function denoise(blob) {
  const limit = strength().limit;
  const url = limit === null ? '/api/denoise' : `/api/denoise?atten_limit=${limit}`;
  let response;
  try {
    response = await fetch(url, {
      method: 'POST', body: blob, headers: {'Content-Type': blob.type || 'application/octet-stream'}});
  } catch (error) {
    throw new Error(`cannot reach the server: ${error.message}`);
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `the server answered HTTP ${response.status}`);
  return answer;
}

function showResult(answer, name, started) {
  const wav = fromBase64(answer.enhanced_wav, 'audio/wav');
  const enhanced = track(wav);
  $('enhanced-audio').src = enhanced;
  $('download').href = enhanced;
  $('download').download = `${name.replace(/\.[^.]*$/, '')}_enhanced.wav`;
  $('download').textContent = `Download the enhanced WAV (${Math.round(wav.size / 1024)} KB)`;
  $('input-spectrogram').src = `data:image/png;base64,${answer.input_spectrogram}`;
  $('enhanced-spectrogram').src = `data:image/png;base64,${answer.enhanced_spectrogram}`;
  for (const id of ['enhanced-audio', 'download', 'input-spectrogram', 'enhanced-spectrogram']) $(id).hidden = false;
  const rtf = answer.processing_seconds / answer.audio_seconds;
  const queued = answer.queued_seconds >= 0.1 ? `, after ${answer.queued_seconds.toFixed(1)} s in the queue` : '';
  $('timing').textContent = `Denoised ${answer.audio_seconds.toFixed(1)} s of ` +
    `${answer.sample_rate / 1000} kHz audio (spectrograms up to ${answer.sample_rate / 2000} kHz) in ` +
    `${answer.processing_seconds.toFixed(2)} s (real-time factor ${rtf.toFixed(2)})${queued}; ` +
    `${elapsed(started)} s in all, upload and download included.`;
  $('status').textContent = 'Done.';
}

async function toggleRecording() {
  if (recorder) return recorder.stop();
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    return showError('recording needs microphone access, which browsers give only to secure pages ' +
                     '(https, or plain http on 127.0.0.1 or localhost)');
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: true});
  } catch (error) {
    return showError(`no microphone: ${error.message}`);
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (event) => chunks.push(event.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((trackOfStream) => trackOfStream.stop());
    recorder = null;
    $('record').textContent = 'Record';
    $('record').classList.remove('recording');
    try {
      submit(await toWav(new Blob(chunks, {type: chunks[0] && chunks[0].type})), 'recording.wav');
    } catch (error) {
      showError(`cannot read the recording: ${error.message}`);
    }
  };
  reset();
  recorder.start();
  $('record').textContent = 'Stop recording';
  $('record').classList.add('recording');
  $('status').textContent = 'Recording… press "Stop recording" when done.';
}

// Browsers record WebM/Ogg Opus; decode it here and send mono WAV, which any server reads: at
// the browser's rate (full band, up to 48 kHz) while that fits in the upload limit, else at 16 kHz.
async function toWav(blob) {
  const context = new AudioContext();
  const decoded = await context.decodeAudioData(await blob.arrayBuffer());
  await context.close();
  const fullRate = Math.min(decoded.sampleRate, 48000);
  const rate = 44 + 2 * decoded.duration * fullRate <= config.max_upload_bytes ? fullRate : MODEL_RATE;
  const offline = new OfflineAudioContext(1, Math.ceil(decoded.duration * rate), rate);
  const source = offline.createBufferSource();
  source.buffer = decoded;
  source.connect(offline.destination);
  source.start();
  return encodeWav((await offline.startRendering()).getChannelData(0), rate);
}

function encodeWav(samples, rate) {
  const view = new DataView(new ArrayBuffer(44 + 2 * samples.length));
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, 'RIFF');
  view.setUint32(4, 36 + 2 * samples.length, true);
  text(8, 'WAVEfmt ');
  view.setUint32(16, 16, true);  // fmt chunk size
  view.setUint16(20, 1, true);  // PCM
  view.setUint16(22, 1, true);  // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, 2 * rate, true);  // bytes per second
  view.setUint16(32, 2, true);  // bytes per frame
  view.setUint16(34, 16, true);  // bits per sample
  text(36, 'data');
  view.setUint32(40, 2 * samples.length, true);
  samples.forEach((x, i) => view.setInt16(44 + 2 * i, Math.max(-32768, Math.min(32767, Math.round(x * 32768))), true));
  return new Blob([view], {type: 'audio/wav'});
}

// Live: the microphone in 100 ms blocks to /api/live/<token>, the enhanced blocks played as
// they come back. One request at a time: blocks captured meanwhile go together in the next.
// window.liveLog keeps what was sent and played, with context times, for the browser test.
let live = null;
const PLAYBACK_MARGIN_S = 0.02;  // scheduling a buffer needs it a little ahead of now

async function toggleLive() {
  if (live) return stopLive();
  if (!navigator.mediaDevices || !window.AudioWorkletNode) {
    return showError('live denoising needs microphone access, which browsers give only to ' +
                     'secure pages (https, or plain http on 127.0.0.1 or localhost)');
  }
  reset();
  setBusy(true);
  try {
    live = await startLive();
  } catch (error) {
    setBusy(false);
    return showError(error.message);
  }
  $('live').disabled = false;
  $('live').textContent = 'Stop live';
  $('live').classList.add('recording');
  $('live-status').hidden = false;
  $('live-status').textContent = `Live: stated latency ${live.session.latency_ms} ms…`;
}

// Claim the server's live session (at the strength chosen), then open the microphone.
async function startLive() {
  const limit = strength().limit;
  const url = limit === null ? '/api/live/start' : `/api/live/start?atten_limit=${limit}`;
  const session = await liveRequest(url, null, 'json');
  try {
    return await openMicrophone(session);
  } catch (error) {
    await liveRequest(`/api/live/${session.token}/stop`, null, 'arrayBuffer').catch(() => {});
    throw error;
  }
}

async function openMicrophone(session) {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(
      {audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
  } catch (error) {
    throw new Error(`no microphone: ${error.message}`);
  }
  const context = new AudioContext({sampleRate: session.sample_rate});
  await context.audioWorklet.addModule('/capture-worklet.js');
  const capture = new AudioWorkletNode(context, 'capture', {numberOfOutputs: 0});
  const state = {session, stream, context, capture, pending: [], pendingFrames: 0,
                 firstPendingFrame: 0, nextFrame: null, sequence: 0, inFlight: null,
                 nextPlay: 0, stopping: false};
  window.liveLog = {latencySamples: session.latency_samples, sampleRate: session.sample_rate,
                    sent: [], played: [], roundTrips: [], missedFrames: 0, repeatedFrames: 0};
  capture.port.onmessage = (event) => capturedLive(state, event.data);
  context.createMediaStreamSource(stream).connect(capture);
  return state;
}

function capturedLive(state, {frame, samples}) {
  if (state.stopping) return;
  const missed = state.nextFrame === null ? 0 : frame - state.nextFrame;
  if (missed > 0) {  // quanta the audio thread dropped (under load): silence keeps the timing
    window.liveLog.missedFrames += missed;
    queueCaptured(state, state.nextFrame, new Float32Array(missed));
  } else if (missed < 0) {  // a quantum over frames already taken (seen once under load)
    window.liveLog.repeatedFrames += Math.min(-missed, samples.length);
    samples = samples.subarray(Math.min(-missed, samples.length));
    frame = state.nextFrame;
    if (!samples.length) return;
  }
  queueCaptured(state, frame, samples);
  if (!state.inFlight && state.pendingFrames >= state.session.block_samples) sendLive(state);
}

function queueCaptured(state, frame, samples) {
  if (!state.pendingFrames) state.firstPendingFrame = frame;
  state.pending.push(samples);
  state.pendingFrames += samples.length;
  state.nextFrame = frame + samples.length;
}

function sendLive(state) {
  const block = takePending(state, state.session.max_block_samples);
  const captured = block.frame / state.context.sampleRate;
  const sent = performance.now();
  window.liveLog.sent.push({time: captured, sentAt: state.context.currentTime,
                           samples: block.samples});
  state.inFlight = liveRequest(`/api/live/${state.session.token}?seq=${state.sequence++}`,
                               block.samples, 'arrayBuffer')
    .then((answer) => {
      const roundTrip = performance.now() - sent;
      window.liveLog.roundTrips.push(roundTrip);
      const played = playLive(state, new Float32Array(answer));
      showLiveTiming(state, roundTrip, played - captured);
      state.inFlight = null;
      if (state.pendingFrames >= state.session.block_samples) sendLive(state);
    })
    .catch((error) => {  // the session is gone (ended, or the server is unreachable)
      state.inFlight = null;
      state.pending = [];
      state.pendingFrames = 0;
      showError(error.message);
      stopLive(true);
    });
}

// The oldest pending samples, up to `limit`, with the frame number of the first one.
function takePending(state, limit) {
  const count = Math.min(state.pendingFrames, limit);
  const samples = new Float32Array(count);
  const frame = state.firstPendingFrame;
  let filled = 0;
  while (filled < count) {
    const piece = state.pending[0];
    const used = Math.min(piece.length, count - filled);
    samples.set(piece.subarray(0, used), filled);
    filled += used;
    if (used === piece.length) state.pending.shift();
    else state.pending[0] = piece.subarray(used);
  }
  state.pendingFrames -= count;
  state.firstPendingFrame = frame + count;
  return {samples, frame};
}

// Queue `samples` right after what is already queued (or now, if playback ran dry);
// returns the context time it starts at.
function playLive(state, samples) {
  if (!samples.length) return state.nextPlay;
  const {context} = state;
  const buffer = context.createBuffer(1, samples.length, context.sampleRate);
  buffer.copyToChannel(samples, 0);
  const source = context.createBufferSource();
  source.buffer = buffer;
  source.connect(context.destination);
  const start = Math.max(state.nextPlay, context.currentTime + PLAYBACK_MARGIN_S);
  source.start(start);
  state.nextPlay = start + buffer.duration;
  window.liveLog.played.push({time: start, samples});
  return start;
}

function showLiveTiming(state, roundTrip, blockDelay) {
  const times = window.liveLog.roundTrips.slice(-50).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const total = state.session.latency_ms + 1000 * blockDelay;
  $('live-status').textContent = `Live: stated latency ${state.session.latency_ms} ms, ` +
    `round trip ${Math.round(median)} ms (median; last ${Math.round(roundTrip)} ms), ` +
    `delay from microphone to speaker ${Math.round(total)} ms.`;
}

// Stop capturing, send what is left, play the stream's last `latency` samples, release.
async function stopLive(quietly = false) {
  const state = live;
  if (!state || state.stopping) return;
  state.stopping = true;
  state.capture.port.onmessage = null;
  state.stream.getTracks().forEach((trackOfStream) => trackOfStream.stop());
  try {
    while (state.inFlight || state.pendingFrames) {  // a failed block empties both
      if (!state.inFlight) sendLive(state);
      await state.inFlight;
    }
    const tail = await liveRequest(`/api/live/${state.session.token}/stop`, null, 'arrayBuffer');
    playLive(state, new Float32Array(tail));
  } catch (error) {
    if (!quietly) showError(error.message);
  }
  const remaining = Math.max(0, state.nextPlay - state.context.currentTime);
  setTimeout(() => state.context.close(), 1000 * remaining + 100);
  live = null;
  $('live').textContent = 'Live';
  $('live').classList.remove('recording');
  setBusy(false);
}

async function liveRequest(url, samples, as) {
  let response;
  try {
    response = await fetch(url, {method: 'POST', body: samples,
                                 headers: {'Content-Type': 'application/octet-stream'}});
  } catch (error) {
    throw new Error(`cannot reach the server: ${error.message}`);
  }
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    throw new Error(answer.error || `the server answered HTTP ${response.status}`);
  }
  return response[as]();
}

function fromBase64(text, type) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], {type});
}

function track(blob) {
  const url = URL.createObjectURL(blob);
  objectUrls.push(url);
  return url;
}

function reset() {
  objectUrls.forEach((url) => URL.revokeObjectURL(url));
  objectUrls = [];
  $('error').hidden = true;
  $('results').hidden = true;
  $('timing').textContent = '';
  $('status').textContent = '';
  $('live-status').hidden = true;
  for (const id of ['enhanced-audio', 'download', 'input-spectrogram', 'enhanced-spectrogram']) $(id).hidden = true;
}

function setBusy(value) {
  busy = value;
  for (const id of ['file', 'record', 'example', 'live']) $(id).disabled = value;
  $('drop').classList.toggle('disabled', value);
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('status').textContent = '';
}

const megabytes = (bytes) => (bytes / 2 ** 20).toFixed(bytes % 2 ** 20 ? 1 : 0);
const elapsed = (started) => ((performance.now() - started) / 1000).toFixed(1);

init().catch((error) => showError(`cannot start the page: ${error.message}`));
