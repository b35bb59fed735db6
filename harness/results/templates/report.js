// Filters for report.html: category, verdict, model, free text. Plain DOM, no framework.
(function () {
  var get = function (id) { return document.getElementById(id); };
  if (!get("filters")) { return; }
  var questions = Array.prototype.slice.call(document.querySelectorAll("section.question"));
  function apply() {
    var category = get("f-category").value, verdict = get("f-verdict").value, model = get("f-model").value;
    var text = get("f-search").value.trim().toLowerCase(), shown = 0;
    questions.forEach(function (q) {
      var answers = Array.prototype.slice.call(q.querySelectorAll(".answer")), any = false;
      answers.forEach(function (a) {
        var ok = (!model || a.getAttribute("data-label") === model) && (!verdict || a.getAttribute("data-verdict") === verdict);
        a.classList.toggle("hidden", !ok);
        any = any || ok;
      });
      var match = (!category || q.getAttribute("data-category") === category) && any &&
        (!text || q.textContent.toLowerCase().indexOf(text) >= 0);
      q.classList.toggle("hidden", !match);
      if (match) { shown += 1; }
    });
    get("count").textContent = shown + " of " + questions.length + " questions";
  }
  ["f-category", "f-verdict", "f-model"].forEach(function (id) { get(id).addEventListener("change", apply); });
  get("f-search").addEventListener("input", apply);
  apply();
}());
