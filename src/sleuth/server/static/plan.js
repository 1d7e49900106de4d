// The plan editor of a report paused for approval: the title, each section's heading and search questions,
// sections added or removed. Values go in and out through input.value only; the API checks the plan.
import { $, el } from "./dom.js";

const MAX_QUESTIONS = 3;

function questionRow(text) {
  const row = el("li", { class: "plan-question-row" });
  const input = el("input", { class: "plan-question", "aria-label": "search question" });
  input.value = text;
  row.append(input, el("button", { type: "button", class: "plan-remove-question", "aria-label": "remove question",
    onclick: () => row.remove() }, "×"));
  return row;
}

function sectionItem(section) {
  const item = el("li", { class: "plan-section" });
  const heading = el("input", { class: "plan-heading", "aria-label": "section heading" });
  heading.value = section.heading || "";
  const questions = el("ol", { class: "plan-questions" });
  for (const question of section.questions || []) questions.append(questionRow(question));
  const addQuestion = el("button", { type: "button", class: "plan-add-question", onclick: () => {
    if (questions.children.length < MAX_QUESTIONS) questions.append(questionRow(""));
    questions.lastChild?.querySelector("input").focus();
  } }, "Add question");
  const remove = el("button", { type: "button", class: "plan-remove-section", onclick: () => item.remove() },
    "Remove section");
  item.append(el("label", {}, "Heading", heading), el("span", { class: "muted" }, "Search questions"), questions,
    el("div", { class: "row" }, addQuestion, remove));
  return item;
}

// Show `outline` ({title, sections: [{heading, questions}]}) in the editor, replacing what was there.
export function showPlan(outline) {
  $("plan-title").value = (outline && outline.title) || "";
  const list = $("plan-sections");
  list.replaceChildren(...((outline && outline.sections) || []).map(sectionItem));
  $("plan-status").textContent = "";
  $("plan-status").className = "";
}

export function addSection() {
  const item = sectionItem({ heading: "", questions: [""] });
  $("plan-sections").append(item);
  item.querySelector(".plan-heading").focus();
}

// The edited plan as the API takes it (blank questions left out; everything else is the API's to check).
export function readPlan() {
  return {
    title: $("plan-title").value.trim(),
    sections: [...document.querySelectorAll("#plan-sections .plan-section")].map((item) => ({
      heading: item.querySelector(".plan-heading").value.trim(),
      questions: [...item.querySelectorAll(".plan-question")].map((q) => q.value.trim()).filter(Boolean),
    })),
  };
}
