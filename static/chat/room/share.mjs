// The room's share link: a button that copies its full URL with the
// Clipboard API, saying so in the line beside it. Shown only where the
// API exists (a secure context: https, or localhost).

export function startShare({button, link, status}) {
  if (!button || !link || !navigator.clipboard || !window.isSecureContext) {
    return;
  }
  button.hidden = false;
  let timer = null;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(link.href);
      status.textContent = "Link copied";
    } catch (error) {
      status.textContent = "Could not copy; select the link instead";
    }
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      status.textContent = "";
    }, 4000);
  });
}
