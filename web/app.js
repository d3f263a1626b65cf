// The jobs overview: /jobs every 5 seconds. The full dashboard grows from here.
function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}
async function refresh() {
  try {
    const answer = await fetch("jobs");
    const body = await answer.json();
    const rows = document.querySelector("#jobs tbody");
    rows.replaceChildren();
    for (const job of body.jobs) {
      const tr = document.createElement("tr");
      const last = job.last_run;
      tr.append(cell(job.job), cell(job.schedule ? `${job.schedule} (${job.timezone})` : "manual"),
                cell(last ? `#${last.run_id} for ${last.date}` : "never"),
                cell(last ? last.status : "-", last ? last.status : ""),
                cell(job.next_run || "-"),
                cell(job.deadline ? (job.deadline_missed ? `${job.deadline} missed` : job.deadline) : "-",
                     job.deadline_missed ? "missed" : ""));
      rows.append(tr);
    }
    document.querySelector("#error").textContent = "";
  } catch (e) {
    document.querySelector("#error").textContent = `cannot reach the daemon: ${e}`;
  }
}
refresh();
setInterval(refresh, 5000);
