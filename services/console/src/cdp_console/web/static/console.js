// The console's only script: charts from the JSON a page embeds (no inline script, so the
// Content-Security-Policy forbids it), and the live events page's refresh.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const data = document.getElementById("campaign-chart-data");
  const canvas = document.getElementById("campaign-chart");
  if (data && canvas && window.Chart) {
    const chart = JSON.parse(data.textContent);
    const colors = { visitors: "#3358d4", engaged: "#7c93e6", conversions: "#d98c1f", leads: "#1f8a5b" };
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: Object.entries(chart.series).map(([name, values]) => ({
          label: name, data: values, backgroundColor: colors[name] || "#888",
        })),
      },
      options: { animation: false, responsive: true, plugins: { legend: { position: "bottom" } } },
    });
    canvas.dataset.rendered = "1";
  }
  const sizes = document.getElementById("segment-size-data");
  const sizeCanvas = document.getElementById("segment-size-chart");
  if (sizes && sizeCanvas && window.Chart) {
    const history = JSON.parse(sizes.textContent);
    new window.Chart(sizeCanvas, {
      type: "line",
      data: {
        labels: history.labels,
        datasets: [{ label: "members", data: history.sizes, borderColor: "#3358d4", pointRadius: 2, stepped: true }],
      },
      options: { animation: false, responsive: true, plugins: { legend: { display: false } } },
    });
    sizeCanvas.dataset.rendered = "1";
  }
  const live = document.querySelector("[data-refresh]");
  if (live) {
    setTimeout(() => window.location.reload(), Number(live.dataset.refresh));
  }
});
