/* Sealpost: attach files without leaving the page (progressive enhancement).
 *
 * Without this script the upload panel is a plain HTML form that posts the file to the staging
 * bucket and comes back to the page (see chalicelib/web/attachment_forms.py). With it, each chosen
 * file gets its own presigned POST from /api/uploads, is sent to the bucket with fetch, and is
 * added to the message form as a checked box; what the person has typed stays on the page.
 * Loaded with the page's CSP nonce; it adds no inline code or styles.
 */
(function () {
  "use strict";

  var panel = document.querySelector("form[data-upload-form]");
  if (!panel || !window.fetch || !window.FormData) {
    return;
  }
  var messageForm = document.getElementById(panel.getAttribute("data-message-form"));
  if (!messageForm) {
    return;
  }
  var maxFiles = parseInt(panel.getAttribute("data-max-files"), 10) || 20;
  var fileInput = panel.querySelector("input[type=file]");
  var button = panel.querySelector("button[type=submit]");
  var status = panel.querySelector("[data-upload-status]");
  var problem = panel.querySelector("[data-upload-error]");
  var list = messageForm.querySelector("[data-attachment-list] .file-list");
  var empty = messageForm.querySelector("[data-no-files]");
  var csrf = messageForm.querySelector("input[name=csrf_token]");
  var hint = panel.querySelector("[data-nojs-hint]");

  fileInput.multiple = true;
  if (hint) {
    hint.textContent = "Choose one or more files and select \u201cUpload file\u201d. They are attached to your message below.";
  }

  function say(text) {
    status.textContent = text;
  }

  function fail(text) {
    problem.textContent = "";
    var paragraph = document.createElement("p");
    paragraph.className = "error-text";
    paragraph.textContent = text;
    problem.appendChild(paragraph);
  }

  function sizeText(size) {
    if (size >= 1048576) {
      return (size / 1048576).toFixed(1).replace(/\.0$/, "") + " MB";
    }
    if (size >= 1024) {
      return (size / 1024).toFixed(1).replace(/\.0$/, "") + " KB";
    }
    return size + " bytes";
  }

  function nextIndex() {
    var highest = 0;
    list.querySelectorAll("input[type=checkbox]").forEach(function (box) {
      var found = /^attachment-(\d+)$/.exec(box.name);
      if (found) {
        highest = Math.max(highest, parseInt(found[1], 10));
      }
    });
    return highest + 1;
  }

  function addEntry(uploadId, name, size) {
    var index = nextIndex();
    var item = document.createElement("li");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.id = "attachment-" + index;
    box.name = "attachment-" + index;
    box.value = uploadId;
    box.checked = true;
    var label = document.createElement("label");
    label.className = "check-label";
    label.htmlFor = box.id;
    label.textContent = name + " (" + sizeText(size) + ")";
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "attachment-" + index + "-name";
    hidden.value = name;
    item.appendChild(box);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(label);
    item.appendChild(hidden);
    list.appendChild(item);
    if (empty) {
      empty.hidden = true;
    }
  }

  async function upload(file) {
    var asked = await fetch("/api/uploads", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf.value },
      body: JSON.stringify({ size: file.size })
    });
    var ticket = await asked.json().catch(function () {
      return {};
    });
    if (!asked.ok) {
      throw new Error(file.name + ": " + (ticket.message || "the file cannot be attached."));
    }
    var body = new FormData();
    Object.keys(ticket.fields).forEach(function (name) {
      body.append(name, ticket.fields[name]);
    });
    body.append("file", file);
    var stored = await fetch(ticket.url, { method: "POST", body: body, credentials: "omit" });
    if (!stored.ok) {
      throw new Error(file.name + ": the upload did not complete. Please try again.");
    }
    addEntry(ticket.upload_id, file.name, file.size);
  }

  panel.addEventListener("submit", async function (event) {
    event.preventDefault();
    problem.textContent = "";
    var files = Array.prototype.slice.call(fileInput.files || []);
    if (!files.length) {
      fail("Choose a file to attach first.");
      fileInput.focus();
      return;
    }
    if (list.querySelectorAll("input[type=checkbox]").length + files.length > maxFiles) {
      fail("A message can carry at most " + maxFiles + " files.");
      return;
    }
    button.disabled = true;
    panel.setAttribute("aria-busy", "true");
    var attached = [];
    try {
      for (var i = 0; i < files.length; i += 1) {
        say("Uploading " + files[i].name + "\u2026");
        await upload(files[i]);
        attached.push(files[i].name);
      }
      say(attached.join(", ") + (attached.length === 1 ? " is" : " are") + " attached to your message.");
      fileInput.value = "";
    } catch (error) {
      say(attached.length ? attached.join(", ") + " attached." : "");
      // A network failure (TypeError) has no message worth showing; our own errors do.
      fail(error instanceof TypeError || !error.message ? "The upload did not complete. Please try again." : error.message);
    } finally {
      button.disabled = false;
      panel.removeAttribute("aria-busy");
    }
  });
})();
