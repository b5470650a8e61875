// A join that is safe to send again.
//
// Reflex sends an event at most once, and the answer to a join (the identity the server made) can die with
// the connection after the server registered the participant. So this browser makes the identity's secret
// itself: before its first join to a session is sent, a random token is stored here (per session code), and
// every join to that session sends it. The server derives the participant from it (service/secrets.py), so
// a join sent again (clicked again, after a reload, in a new tab) resumes that participant instead of
// finding the name taken. Only this browser knows the token; the server keeps its hash.
const PREFIX = "cardsort_join:";
const TOKEN = /^[0-9a-f]{32}$/;
const inMemory = {}; // where localStorage is unavailable: this tab still sends the same token again

function freshToken() {
  const bytes = new Uint8Array(16); // 128 bits; getRandomValues works on plain http too (a LAN's phones)
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function joinToken(code) {
  const key = PREFIX + code;
  let token = inMemory[key];
  try {
    token = window.localStorage.getItem(key) || token;
  } catch (e) {
    // storage refused (a locked-down browser): keep the in-memory one
  }
  if (!token || !TOKEN.test(token)) {
    token = freshToken();
    try {
      window.localStorage.setItem(key, token); // stored before the join leaves this browser
    } catch (e) {
      // as above
    }
  }
  inMemory[key] = token;
  return token;
}

// "Leave and erase my name" ends the participant this token stands for: the next join from this browser (a
// shared tablet) is someone new, with a token of its own (the server would not resume the erased one anyway).
export function forgetJoinToken(code) {
  const key = PREFIX + code;
  delete inMemory[key];
  try {
    window.localStorage.removeItem(key);
  } catch (e) {
    // storage refused: nothing was stored there
  }
}

function valueOf(id) {
  const el = id && typeof document !== "undefined" ? document.getElementById(id) : null;
  return el ? String(el.value) : "";
}

// The join form's request: the code (typed into `codeInput`, or the page's own `pageCode`) and the name as
// the page shows them when Join is clicked (not the state's copies, which a lost frame leaves behind), and
// this browser's token for that code.
export function joinRequest(codeInput, nameInput, pageCode) {
  const code = String(pageCode || valueOf(codeInput)).trim().toUpperCase();
  return { code, name: valueOf(nameInput), token: code ? joinToken(code) : "" };
}
