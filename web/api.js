// The daemon's HTTP API as the dashboard uses it. Paths are relative, so the
// dashboard also works behind a reverse proxy under a prefix. Errors carry the
// API's own words ({"error": "..."}), which the page shows as they are.

const TOKEN_KEY = "nightshift.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(response.status, `HTTP ${response.status}: ${text.slice(0, 300)}`);
  }
  if (!response.ok) {
    throw new ApiError(response.status, body && body.error ? body.error : `HTTP ${response.status}`);
  }
  return body;
}

export async function getJson(path, signal) {
  let response;
  try {
    response = await fetch(path, { signal, headers: { Accept: "application/json" } });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, `cannot reach the daemon (${e.message})`);
  }
  return answer(response);
}

// --- POST, with the bearer token asked once and kept in sessionStorage ---

let authRequired = null;  // from GET /status; null until known

export function setAuthRequired(value) {
  authRequired = value;
}

function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// Shows the token dialog; resolves with the token, or null when dismissed.
function askToken(message) {
  const dialog = document.getElementById("token-dialog");
  const input = dialog.querySelector("input");
  const note = dialog.querySelector(".dialog-error");
  note.textContent = message || "";
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" && input.value.trim() ? input.value.trim() : null);
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
}

// POSTs to the API. Asks for the token first when the daemon needs one and
// none is kept; a 401 or 403 asks again, with the API's reason.
export async function post(path) {
  let token = storedToken();
  let reason = "";
  for (;;) {
    if (authRequired && !token) {
      token = await askToken(reason);
      if (!token) throw new ApiError(0, "no token given: the action was not sent");
      sessionStorage.setItem(TOKEN_KEY, token);
    }
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(path, { method: "POST", headers });
    } catch (e) {
      throw new ApiError(0, `cannot reach the daemon (${e.message})`);
    }
    if (response.status === 401 || response.status === 403) {
      const error = await answer(response).catch((e) => e);
      sessionStorage.removeItem(TOKEN_KEY);
      token = null;
      authRequired = true;
      reason = error.message;
      continue;
    }
    return answer(response);
  }
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// "/jobs/kpi/rerun?date=...": names and values are encoded.
export function path(parts, query = {}) {
  const url = parts.map(encodeURIComponent).join("/");
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, value);
  }
  const text = params.toString();
  return text ? `${url}?${text}` : url;
}
