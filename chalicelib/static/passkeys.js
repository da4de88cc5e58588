/* Sealpost: passkeys and security keys (WebAuthn), as a progressive enhancement.
 *
 * A passkey form is hidden until this script finds WebAuthn in the browser. The page carries the
 * ceremony's options (with a single-use challenge the server keeps) in a JSON data block; the
 * script hands them to the browser, puts the browser's answer into the form's "credential" field
 * and submits the form like any other, with its CSRF field. Without JavaScript the page still
 * offers the authenticator-app code and the recovery codes.
 * Loaded with the page's CSP nonce; it adds no inline code or styles.
 */
(function () {
  "use strict";

  var forms = document.querySelectorAll("form[data-passkey]");
  var supported =
    window.PublicKeyCredential &&
    typeof window.PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof window.PublicKeyCredential.parseRequestOptionsFromJSON === "function";
  if (!forms.length || !supported) {
    return;
  }

  forms.forEach(function (form) {
    var source = document.getElementById(form.getAttribute("data-passkey-options"));
    var field = form.querySelector("input[name=credential]");
    var button = form.querySelector("button[type=submit]");
    var problem = form.querySelector("[data-passkey-error]");
    if (!source || !field || !button) {
      return;
    }
    form.hidden = false;

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      button.disabled = true;
      if (problem) {
        problem.textContent = "";
      }
      try {
        var options = JSON.parse(source.textContent);
        var credential;
        if (form.getAttribute("data-passkey") === "create") {
          credential = await navigator.credentials.create({
            publicKey: window.PublicKeyCredential.parseCreationOptionsFromJSON(options)
          });
        } else {
          credential = await navigator.credentials.get({
            publicKey: window.PublicKeyCredential.parseRequestOptionsFromJSON(options)
          });
        }
        field.value = JSON.stringify(credential.toJSON());
        form.submit();
      } catch (error) {
        button.disabled = false;
        if (problem) {
          problem.textContent =
            "The passkey was not used. Try again, or use a code from your authenticator app or a recovery code.";
        }
      }
    });
  });
})();
