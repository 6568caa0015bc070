// The online session room (docs/services.md, "Session room"): camera and microphone, then the
// room's signalling WebSocket, and a WebRTC call with each peer the server names (a star: the
// practitioner calls each client; clients answer). Media go browser to browser; ICE servers
// come from the server (none by default: direct connections on a LAN or this machine).
(function () {
  "use strict";
  var root = document.querySelector("[data-session-room][data-socket]");
  if (!root) return;
  var status = root.querySelector("[data-room-status]");
  var mediaError = root.querySelector("[data-media-error]");
  var remotes = root.querySelector("[data-remote-videos]");
  var localVideo = root.querySelector("[data-local-video]");
  var practitioner = root.getAttribute("data-role") === "practitioner";
  var socket = null;
  var local = null;
  var iceServers = [];
  var peers = {}; // id -> {pc, figure, pending: [candidates]}
  var retry = 1000;
  var finished = false; // left, ended or refused: no reconnecting
  var gone = false; // this party left

  function text(name) {
    return root.getAttribute("data-text-" + name) || "";
  }
  function say(message) {
    status.textContent = message;
  }
  function update() {
    if (gone) return;
    var ids = Object.keys(peers);
    var connected = ids.some(function (id) {
      return peers[id].pc.connectionState === "connected";
    });
    var state = connected ? "connected" : ids.length ? "connecting" : "waiting";
    root.setAttribute("data-peer-state", state);
    if (!finished) say(text(state));
  }
  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function addPeer(info) {
    if (peers[info.id]) return peers[info.id];
    var pc = new RTCPeerConnection({ iceServers: iceServers });
    var figure = document.createElement("figure");
    figure.className = "room-video";
    figure.setAttribute("data-peer", info.id);
    figure.setAttribute("data-peer-state", "new");
    var video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    var caption = document.createElement("figcaption");
    caption.textContent = info.name;
    figure.appendChild(video);
    figure.appendChild(caption);
    remotes.appendChild(figure);
    var peer = { pc: pc, figure: figure, pending: [] };
    peers[info.id] = peer;
    if (local) {
      local.getTracks().forEach(function (track) {
        pc.addTrack(track, local);
      });
    } else if (practitioner) {
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    pc.onicecandidate = function (event) {
      if (event.candidate) send({ type: "signal", to: info.id, data: { candidate: event.candidate.toJSON() } });
    };
    pc.ontrack = function (event) {
      if (video.srcObject !== event.streams[0]) {
        video.srcObject = event.streams[0];
        var playing = video.play();
        if (playing && playing.catch) playing.catch(function () {});
      }
    };
    pc.onconnectionstatechange = function () {
      figure.setAttribute("data-peer-state", pc.connectionState);
      update();
    };
    if (practitioner) {
      pc.createOffer()
        .then(function (offer) {
          return pc.setLocalDescription(offer);
        })
        .then(function () {
          send({ type: "signal", to: info.id, data: { description: pc.localDescription.toJSON() } });
        });
    }
    return peer;
  }
  function dropPeer(id) {
    var peer = peers[id];
    if (!peer) return;
    peer.pc.close();
    peer.figure.remove();
    delete peers[id];
  }
  function dropAll() {
    Object.keys(peers).forEach(dropPeer);
  }
  function flush(peer) {
    peer.pending.forEach(function (candidate) {
      peer.pc.addIceCandidate(candidate).catch(function () {});
    });
    peer.pending = [];
  }
  function onSignal(from, data) {
    var peer = peers[from];
    if (!peer) return;
    var pc = peer.pc;
    if (data.description) {
      pc.setRemoteDescription(data.description)
        .then(function () {
          flush(peer);
          if (data.description.type !== "offer") return null;
          return pc
            .createAnswer()
            .then(function (answer) {
              return pc.setLocalDescription(answer);
            })
            .then(function () {
              send({ type: "signal", to: from, data: { description: pc.localDescription.toJSON() } });
            });
        })
        .catch(function () {});
    } else if (data.candidate) {
      if (pc.remoteDescription) pc.addIceCandidate(data.candidate).catch(function () {});
      else peer.pending.push(data.candidate);
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + root.getAttribute("data-socket"));
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      switch (message.type) {
        case "hello":
          retry = 1000;
          iceServers = message.ice_servers || [];
          message.peers.forEach(addPeer);
          update();
          break;
        case "joined":
          addPeer(message.peer);
          update();
          break;
        case "left":
          dropPeer(message.peer);
          update();
          break;
        case "signal":
          onSignal(message.from, message.data);
          break;
        case "ended":
          finished = true;
          say(text("ended"));
          break;
        case "error":
          if (message.message) {
            finished = true; // refused (the link, the time, the identity check): say why
            say(message.message);
          }
          break;
      }
    };
    socket.onclose = function (event) {
      dropAll();
      update();
      if (finished || event.code >= 4000) {
        finished = true;
        if (event.code >= 4000 && !status.textContent) say(text("ended"));
        return;
      }
      say(text("disconnected"));
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  function leave() {
    finished = true;
    gone = true;
    if (socket) socket.close(1000);
    dropAll();
    if (local) {
      local.getTracks().forEach(function (track) {
        track.stop();
      });
    }
    root.setAttribute("data-peer-state", "left");
    say(text("left"));
  }
  root.querySelector("[data-room-leave]").addEventListener("click", leave);

  if (!window.RTCPeerConnection || !window.WebSocket || !navigator.mediaDevices) {
    say(text("unsupported"));
    return;
  }
  say(text("starting"));
  navigator.mediaDevices
    .getUserMedia({ video: true, audio: true })
    .then(
      function (stream) {
        local = stream;
        localVideo.srcObject = stream;
      },
      function (error) {
        var refused = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
        root.setAttribute("data-media", refused ? "refused" : "missing");
        mediaError.textContent = text(refused ? "media-denied" : "media-missing");
        mediaError.hidden = false;
      }
    )
    .then(connect);
})();
