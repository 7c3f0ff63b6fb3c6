// The live demo's microphone tap: hands each render quantum (128 samples of the first channel)
// to the page with the frame number of its first sample.
'use strict';

class CaptureProcessor extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage({frame: currentFrame, samples: channel.slice()});
    return true;
  }
}

registerProcessor('capture', CaptureProcessor);
