// Progressive enhancement for the pickup desk: where the browser has the BarcodeDetector API,
// a button scans the resident's QR code with the camera and fills in the code field.
(function () {
  "use strict";
  const box = document.querySelector("[data-scan]");
  const form = document.querySelector("[data-scan-form]");
  if (!box || !form || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  const field = form.querySelector("[data-scan-target]");
  const how = form.querySelector("[data-scan-how]");
  const video = box.querySelector("[data-scan-video]");
  const start = box.querySelector("[data-scan-start]");
  if (!field || !how || !video || !start) return;
  box.hidden = false;
  field.addEventListener("input", function () { how.value = "typed"; });
  start.addEventListener("click", async function () {
    let stream = null;
    try {
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      video.hidden = false;
      await video.play();
      const deadline = Date.now() + 60000;
      while (Date.now() < deadline) {
        const codes = await detector.detect(video);
        const digits = codes.length ? String(codes[0].rawValue).replace(/\D/g, "") : "";
        if (digits.length === 6) {
          field.value = digits;
          how.value = "scanned";
          form.requestSubmit();
          break;
        }
        await new Promise(function (resolve) { setTimeout(resolve, 250); });
      }
    } catch (err) {
      start.disabled = true;  // no camera or permission refused: typing still works
    } finally {
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      video.hidden = true;
    }
  });
})();
