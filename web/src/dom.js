// The home page's form (#private-check, rendered by the server): show the fields of the chosen
// kind, and run the check on submit. The value is read from the form, canonicalised and blinded
// here; it is never written to the page, the console or the network in the clear.
import { CannotCheckHere, InvalidIdentifier } from "./errors.js";
import { RateLimited, Unavailable, runCheck } from "./http.js";
import { documentQuery, emailQuery, personQuery } from "./protocol.js";

function fill(template, values) {
  return (template || "").replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(values, name) ? String(values[name]) : whole));
}

function control(form, name) {
  return form.elements.namedItem(name);
}

function labelText(form, element, fallback) {
  if (element && element.id) {
    for (const label of form.getElementsByTagName("label")) {
      if (label.htmlFor === element.id) return label.textContent.replace(/\s+/g, " ").trim();
    }
  }
  const wrapping = element && element.closest ? element.closest("label") : null;
  return wrapping ? wrapping.textContent.replace(/\s+/g, " ").trim() : fallback;
}

function chosenKind(form) {
  const checked = form.querySelector('input[name="kind"]:checked');
  return checked ? checked.value : "email";
}

function showKind(form) {
  const kind = chosenKind(form);
  for (const section of form.querySelectorAll("[data-kind]")) {
    const shown = section.getAttribute("data-kind") === kind;
    section.hidden = !shown;
    for (const field of section.querySelectorAll("input, select, textarea")) field.disabled = !shown;
  }
}

function valueOf(form, name) {
  const element = control(form, name);
  return element && typeof element.value === "string" ? element.value : "";
}

/** The query of the form's chosen kind (InvalidIdentifier / CannotCheckHere name the field). */
export function queryFromForm(form) {
  const kind = chosenKind(form);
  if (kind === "person") {
    return personQuery(valueOf(form, "family_name"), valueOf(form, "given_names"), valueOf(form, "birth_date"));
  }
  if (kind === "document") {
    return documentQuery(valueOf(form, "document_kind"), valueOf(form, "document_number"));
  }
  return emailQuery(valueOf(form, "email"));
}

function clearInvalid(form) {
  for (const field of form.querySelectorAll('[aria-invalid="true"]')) field.removeAttribute("aria-invalid");
}

async function onSubmit(form, event) {
  event.preventDefault(); // first: the value must never be posted by the browser itself
  if (form.getAttribute("aria-busy") === "true") return;
  const result = form.querySelector("#private-check-result");
  const button = form.querySelector('button[type="submit"], button:not([type])');
  const message = (name, values = {}) => fill(form.getAttribute(`data-msg-${name}`), values);
  const say = (text) => {
    if (result) result.textContent = text;
  };
  clearInvalid(form);
  let query;
  try {
    query = queryFromForm(form);
  } catch (error) {
    if (error instanceof InvalidIdentifier || error instanceof CannotCheckHere) {
      const element = control(form, error.field);
      const field = labelText(form, element, error.field);
      if (error instanceof InvalidIdentifier) {
        if (element && element.setAttribute) element.setAttribute("aria-invalid", "true");
        say(message("invalid", { field }));
      } else {
        say(form.hasAttribute("data-msg-unsupported") ? message("unsupported", { field }) : message("error"));
      }
      if (element && element.focus) element.focus();
      return;
    }
    say(message("error"));
    return;
  }
  form.setAttribute("aria-busy", "true");
  if (button) button.disabled = true;
  say(message("busy"));
  try {
    const answer = await runCheck(query, { endpoint: form.getAttribute("data-endpoint") || "/v1/lookup" });
    say(
      answer.found.length
        ? message("found", { breaches: answer.found.join(", ") })
        : message("not-found", { count: answer.breaches.length }),
    );
  } catch (error) {
    if (error instanceof RateLimited) say(message("rate-limited", { seconds: error.seconds }));
    else if (error instanceof Unavailable) say(message("unavailable"));
    else say(message("error"));
  } finally {
    query = null;
    form.removeAttribute("aria-busy");
    if (button) button.disabled = false;
  }
}

/** Bind the form: reveal it (the server renders it hidden for browsers without the script),
 * show the chosen kind's fields, and take over submission. */
export function bindForm(form) {
  document.documentElement.classList.add("js");
  form.hidden = false;
  for (const radio of form.querySelectorAll('input[name="kind"]')) {
    radio.addEventListener("change", () => showKind(form));
  }
  showKind(form);
  form.addEventListener("submit", (event) => {
    onSubmit(form, event);
  });
}

export function start() {
  const form = document.getElementById("private-check");
  if (form) bindForm(form);
}
