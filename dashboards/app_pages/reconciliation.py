import altair as alt
import streamlit as st

from dashboards import queries as q
from dashboards import ui
from tallyhouse.reconciliation.report import run_folder

ui.page_header("Reconciliation")
if not q.table_exists("marts.rpt_reconciliation_summary", control=True):
    st.info("No reconciliation run yet. `make run` loads, builds, checks and writes the "
            "first report.")
    st.stop()
runs = q.reconciliation_runs()
if runs.empty:
    st.info("No reconciliation run yet.")
    st.stop()
platforms = (st.session_state.get(ui.FILTERS_KEY) or q.Filters(None, None, "BRL")).platforms
latest = runs.iloc[-1]
run_id = latest["run_id"]
when = ui.local_time(latest["run_at"])
if latest["structural_failures"]:
    st.error(f"The latest run ({when}) found {latest['structural_failures']} structural "
             "finding(s): the figures do not cover everything that was delivered. The report "
             "opens with what is missing.")
elif latest["breaks"]:
    st.warning(f"The latest run ({when}) found {ui.integer(latest['breaks'])} break(s) in "
               f"{latest['failed_checks']} check(s).")
else:
    st.success(f"The latest run ({when}) passed all {latest['checks']} checks: the books "
               "agree.")
report = run_folder(latest["run_at"]) / "reconciliation.html"
st.caption(f"Report: `{report}`" + ("" if report.exists() else " (not on this machine)"))
if report.exists():
    st.download_button("Download the HTML report", report.read_bytes(),
                       file_name=f"reconciliation-{report.parent.name}.html", mime="text/html")

st.subheader("Amount at stake")
stakes = q.reconciliation_stakes(run_id, platforms)
if stakes.empty:
    st.write("Nothing at stake in the latest run.")
else:
    ui.show_table(stakes.rename(columns={"check_name": "check", "unit": "currency / unit"}),
                  key="recon_stakes", codes=["platform"], counts=["breaks"])
    st.caption("Amounts at stake are in the currency (or unit) beside them: sort one unit at "
               "a time; currencies are never added together.")

st.subheader("Checks of the latest run")
checks = q.reconciliation_checks(run_id)
checks["result"] = ["passed" if p else ("ERROR" if s == "ERROR" else "breaks")
                    for p, s in zip(checks["passed"], checks["severity"], strict=True)]
ui.show_table(checks[["invariant", "check_name", "severity", "result", "break_count",
                      "description"]].rename(columns={"invariant": "family",
                                                      "check_name": "check",
                                                      "break_count": "breaks",
                                                      "description": "what it checks"}),
              key="recon_checks", counts=["breaks"])

st.subheader("Breaks over runs")
history = ui.floats(runs.tail(30), "breaks")
history["run"] = [ui.local_time(t) for t in history["run_at"]]
st.altair_chart(alt.Chart(history).mark_line(point=True).encode(
    x=alt.X("run:O", sort=None, title=None, axis=alt.Axis(labelAngle=0)),
    y=alt.Y("breaks:Q", title="breaks", scale=alt.Scale(domainMin=0),
            axis=alt.Axis(format="d", tickMinStep=1)),
    tooltip=["run_id", "run", "breaks", "failed_checks"]).properties(height=220),
    width="stretch")
st.caption(f"The last {len(history)} run(s); times in {ui.business_time_zone()}.")

st.subheader("Drill down")
failing = list(checks.loc[~checks["passed"], "check_name"])
if not failing:
    st.write("No check has breaks to show.")
else:
    chosen = st.selectbox("Check", failing, key="recon_check")
    rows = q.reconciliation_breaks(run_id, chosen, platforms)
    # each side in its own currency: a line in another currency than the sale is never
    # shown with the sale's symbol (tallyhouse.reconciliation.facts.describe_sides)
    from tallyhouse.reconciliation.facts import describe_sides

    records = rows.to_dict("records")
    mismatches = q.reconciliation_breaks(run_id, "money_formulas", platforms) \
        if chosen == "money_formulas" else rows.iloc[0:0]
    extra = [r for r in mismatches.to_dict("records") if r["break_kind"] == "currency_mismatch"
             and r not in records]
    for record in records + extra:
        record.setdefault("currency_code", record["unit"] if len(str(record["unit"])) == 3
                          else None)
    describe_sides(records + extra)
    shown = rows[["break_kind", "entity_type", "entity_id", "platform", "unit"]].copy()
    for column in ("expected", "actual", "difference"):
        shown[column] = [r["shown"][column] for r in records]
    shown["amount_at_stake"] = rows["amount_at_stake"]
    shown["note"] = [r["shown"]["note"] or (r["detail"] or "") for r in records]
    ui.show_table(shown.rename(columns={"break_kind": "break", "entity_type": "entity",
                                        "entity_id": "id", "unit": "currency / unit",
                                        "note": "detail"}),
                  key="recon_breaks", codes=["break", "platform"])
    st.caption("Expected, actual and difference are each in their own currency; at stake is "
               "a number in the currency / unit of its row (sortable).")
