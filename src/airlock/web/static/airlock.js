// Airlock's own script: a form whose button says data-once is sent once. The server does not rely on it
// (each such form carries a one-time token); this only spares the user a second click's wait.
document.addEventListener("submit", (event) => {
  const button = event.target.querySelector("button[data-once]");
  if (button) {
    window.setTimeout(() => { button.disabled = true; button.textContent = "Sending…"; }, 0);
  }
});
// An error summary takes the focus, so that keyboard and screen-reader users hear what went wrong first.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.querySelector(".error-summary[tabindex]");
  if (summary) summary.focus();
});
