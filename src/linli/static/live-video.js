// The live room's picture (docs/live.md "Video"): the room's HLS playlist from the media
// server, natively where the browser plays HLS (Safari, iOS), else through hls.js (vendor/,
// served by Linli). Until the streamer's picture arrives (no playlist yet) it says so and
// tries again every few seconds.
(function () {
  "use strict";
  var video = document.querySelector("video[data-hls]");
  if (!video) return;
  var source = video.dataset.hls;
  var waiting = document.querySelector("[data-video-waiting]");
  var retryMs = 3000;

  function wait(yes) {
    if (waiting) waiting.hidden = !yes;
    video.dataset.state = yes ? "waiting" : "playing";
  }
  function play() {
    var started = video.play();
    if (started && started.catch) started.catch(function () { /* autoplay refused: controls */ });
  }

  wait(true);
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.addEventListener("loadedmetadata", function () { wait(false); play(); });
    video.addEventListener("error", function () {
      wait(true);
      setTimeout(function () { video.src = source; }, retryMs);
    });
    video.src = source;
    return;
  }
  if (!window.Hls || !window.Hls.isSupported()) {
    wait(true);
    return;
  }
  var hls = null;
  function start() {
    // No worker: the page's Content-Security-Policy allows no blob: scripts.
    hls = new window.Hls({ enableWorker: false, lowLatencyMode: false, liveSyncDurationCount: 3 });
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () { wait(false); play(); });
    hls.on(window.Hls.Events.ERROR, function (_event, data) {
      if (!data.fatal) return;
      wait(true);
      hls.destroy();
      setTimeout(start, retryMs);
    });
    hls.loadSource(source);
    hls.attachMedia(video);
  }
  start();
})();
