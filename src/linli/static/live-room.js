// The live room: follows the room's WebSocket channel (docs/live.md) and updates the pinned
// item, its stock, the viewer count, likes and the chat; sends chat messages and likes.
(function () {
  "use strict";
  var room = document.querySelector("[data-room][data-ws]");
  if (!room || !window.WebSocket) return;
  var scheme = location.protocol === "https:" ? "wss://" : "ws://";
  var chat = room.querySelector("[data-live-chat]");
  var viewers = room.querySelector("[data-live-viewers]");
  var form = room.querySelector("[data-chat-form]");
  var chatError = room.querySelector("[data-chat-error]");
  var socket = null;
  var retry = 1000;

  function text(selector, value) {
    var node = room.querySelector(selector);
    if (node) node.textContent = value;
  }
  function addMessage(message) {
    if (!chat) return;
    var item = document.createElement("li");
    item.dataset.message = message.id;
    var who = document.createElement("strong");
    who.textContent = message.user + ": ";
    item.appendChild(who);
    item.appendChild(document.createTextNode(message.text));
    chat.appendChild(item);
    while (chat.children.length > 100) chat.removeChild(chat.firstChild);
  }
  function onMessage(event) {
    var message = JSON.parse(event.data);
    switch (message.type) {
      case "hello":
      case "viewers":
        if (viewers) viewers.textContent = message.viewers !== undefined ? message.viewers : message.count;
        break;
      case "pin":
      case "status":
        // The buy form carries a fresh idempotency key and the CSRF token: reload the page.
        location.reload();
        break;
      case "likes":
        text("[data-live-likes]", message.count);
        break;
      case "stock":
        var pinned = room.querySelector("[data-pinned-id]");
        if (pinned && String(message.goods_id) === pinned.value) {
          text("[data-pinned-remaining]", message.remaining);
        }
        break;
      case "chat":
        addMessage(message);
        break;
      case "removed":
        var gone = chat && chat.querySelector('[data-message="' + message.id + '"]');
        if (gone) gone.remove();
        break;
      case "resync":
        location.reload();
        break;
      case "error":
        if (chatError) chatError.textContent = message.message || message.code;
        break;
    }
  }
  function open() {
    socket = new WebSocket(scheme + location.host + room.dataset.ws);
    socket.addEventListener("message", onMessage);
    socket.addEventListener("open", function () { retry = 1000; });
    socket.addEventListener("close", function () {
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 30000);
    });
  }
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = form.querySelector("input[name=text]");
      if (!input.value.trim() || !socket || socket.readyState !== 1) return;
      if (chatError) chatError.textContent = "";
      socket.send(JSON.stringify({ type: "chat", text: input.value }));
      input.value = "";
    });
  }
  var like = room.querySelector("[data-like]");
  if (like) {
    like.addEventListener("click", function () {
      if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "like" }));
    });
  }
  open();
})();
