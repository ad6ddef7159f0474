// The page: ask, show the answer highlighted in its context, send feedback. Every text from the server is set
// with textContent, never innerHTML: a context holding "<script>" shows as text.
const $ = (id) => document.getElementById(id);
// The server counts offsets in code points (Python's str); JavaScript strings count UTF-16 units, in which an
// emoji is two. So texts are sliced and measured as arrays of code points.
const points = (text) => Array.from(text);
const slice = (text, start, end) => points(text).slice(start, end).join("");
let current = null; // the last /ask response

function status(message, error = false) {
  $("status").textContent = message;
  $("status").className = error ? "error" : "";
}

async function post(path, body) {
  const headers = { "Content-Type": "application/json" };
  if ($("token").value) headers.Authorization = `Bearer ${$("token").value}`;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}

function showContexts(result) {
  const list = $("contexts");
  list.replaceChildren();
  for (const context of result.contexts) {
    const item = document.createElement("li");
    item.dataset.contextId = context.id;
    if (context.title) {
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = context.title;
      item.append(title);
    }
    const text = document.createElement("span");
    text.className = "text";
    const { start, end } = result;
    if (context.id === result.context_id && start !== null) {
      const mark = document.createElement("mark");
      mark.textContent = slice(context.context, start, end);
      text.append(slice(context.context, 0, start), mark, slice(context.context, end));
      item.classList.add("source");
    } else {
      text.textContent = context.context;
    }
    item.append(text);
    list.append(item);
  }
}

// The selection as (context id, start, end) in that context's text, or null
function selectedSpan() {
  const selection = window.getSelection();
  if (!selection.rangeCount || selection.isCollapsed) return null;
  const range = selection.getRangeAt(0);
  const text = range.startContainer.parentElement?.closest(".text");
  if (!text || !text.contains(range.endContainer)) return null;
  const before = document.createRange();
  before.setStart(text, 0);
  before.setEnd(range.startContainer, range.startOffset);
  const start = points(before.toString()).length;
  const end = start + points(range.toString()).length;
  return { context_id: Number(text.parentElement.dataset.contextId), start, end };
}

$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  status("Answering...");
  try {
    current = await post("/ask", { question: $("question").value });
    $("answer").textContent = current.answer || "(no answer in these contexts)";
    showContexts(current);
    $("result").hidden = false;
    status("");
  } catch (error) {
    status(error.message, true);
  }
});

for (const button of document.querySelectorAll("#feedback button")) {
  button.addEventListener("click", async () => {
    if (!current) return;
    const body = { answer_id: current.answer_id, verdict: button.dataset.verdict };
    if (body.verdict === "corrected") {
      const span = selectedSpan();
      if (!span) return status("Select the right answer in one of the contexts first.", true);
      Object.assign(body, span);
    }
    try {
      const saved = await post("/feedback", body);
      status(`Thank you: feedback ${saved.feedback_id} saved (${body.verdict}).`);
    } catch (error) {
      status(error.message, true);
    }
  });
}

fetch("/health").then((r) => r.json()).then((health) => { $("token").hidden = !health.feedback_needs_token; });
