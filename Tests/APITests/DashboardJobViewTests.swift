import Foundation
import Postgres
import QuarryTestSupport
import Testing

/// The dashboard's job view (issue 16, part 5) driven in headless Chromium: a harness page on another origin holds
/// the dashboard in an iframe and clicks its buttons as a person would (Chromium runs with `--disable-web-security`
/// so the harness may reach into the frame).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DashboardJobViewTests {
    static func harness(_ url: String) -> String {
        """
        <!doctype html><html><body><pre id="log">harness</pre>
        <iframe id="f" width="1200" height="900" src="\(url)"></iframe>
        <script>
        const log = s => { document.getElementById('log').textContent += '\\n' + s; };
        const d = () => document.getElementById('f').contentDocument;
        const text = id => (d().getElementById(id) || {}).textContent || '';
        async function wait(cond, what) {
          for (let i = 0; i < 150; i++) { try { if (cond()) return; } catch (e) {} await new Promise(r => setTimeout(r, 100)); }
          throw new Error('timed out waiting for ' + what + '; message: ' + text('job-msg'));
        }
        document.getElementById('f').onload = async () => {
          try {
            await wait(() => d().getElementById('job-approve-all'), 'the job view');
            log('state-before ' + text('job-review-state'));
            log('held-rows ' + d().querySelectorAll('#job-diff tr.held').length);
            log('mapping ' + d().querySelector('#job-summary [data-key=mapping]').textContent);
            const w11 = [...d().querySelectorAll('#job-diff tr')].find(tr => tr.dataset.sku === 'W11');
            log('markup ' + d().querySelectorAll('#job-view b').length + ' ' + (w11 ? w11.textContent.includes('Part <b>11</b>') : 'no-row'));
            log('rejects ' + (d().getElementById('job-rejects-csv') ? 'csv' : '') + ' ' + (d().getElementById('job-rejects-xlsx') ? 'xlsx' : ''));
            d().getElementById('job-commit').click();
            await wait(() => text('job-msg').includes('REVIEW_REQUIRED'), 'the refused commit');
            log('refused ' + text('job-msg'));
            d().querySelector('#job-diff tr.held button.approve').click();
            await wait(() => text('job-msg').includes('1 approved'), 'the first approval');
            log('one ' + text('job-msg'));
            d().getElementById('job-approve-all').click();
            await wait(() => text('job-review-state') === 'reviewed', 'the review');
            log('state-after ' + text('job-review-state'));
            d().getElementById('job-commit').click();
            await wait(() => text('job-msg').startsWith('committed'), 'the commit');
            log('commit ' + text('job-msg'));
            log('committed ' + text('job-committed'));
            log('after-commit ' + d().getElementById('job-commit').disabled + ' ' + d().querySelectorAll('#job-diff tr.held').length + ' ' + d().querySelectorAll('#job-diff button.approve').length);
          } catch (e) { log('error ' + e.message); }
          log('done');
        };
        </script></body></html>
        """
    }

    /// A held job (`needs_review`) is opened in the page, its commit refused, one held row approved with its
    /// button, the rest with "approve all", and the job committed with the commit button.
    @Test func heldJobIsApprovedAndCommittedInThePage() async throws {
        _ = try DashboardTests.chromium()
        let flow = try await SupplierFlow.make()
        var catalog: [String: SupplierFlow.Product] = [:]
        for i in 1...10 { catalog["W\(i)"] = .init(name: "Part \(i)", cents: 1000 + i, currency: "EUR") }
        try await flow.insert(catalog, supplier: "page")
        var csv = "sku,name,price,currency\n"
        for i in 1...10 { csv += "W\(i),Part \(i),\(100 + i / 10).\(String(format: "%02d", (i % 10) * 10)),EUR\n" }
        csv += "W11,Part <b>11</b>,5.00,EUR\n"
        let guardConfig: [String: Any] = ["max_increase_pct": 30, "max_held_share_pct": 20]
        let job = try await flow.extract(csv, config: ["supplier_id": "page", "price_guard": guardConfig])
        let (header, _) = try await flow.diff(job)
        try #require((header["review"] as? [String: Any])?["state"] as? String == "needs_review", "\(header)")

        let server = try StaticPageServer(html: Self.harness(flow.base + "/#token=\(flow.org.token)&job=\(job)"))
        defer { server.stop() }
        let dom = try await DashboardTests.runChromium(
            [
                "--dump-dom", "--disable-web-security", "--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process",
                "--virtual-time-budget=30000",
            ],
            url: "http://127.0.0.1:\(server.port)/harness.html")
        let log = try #require(DashboardTests.text(between: "<pre id=\"log\">", and: "</pre>", in: dom), "\(dom.prefix(2000))")
        #expect(log.contains("state-before needs_review"), "\(log)")
        #expect(log.contains("held-rows 10"), "\(log)")
        #expect(log.contains("mapping auto") || log.contains("mapping config"), "\(log)")
        #expect(log.contains("rejects csv xlsx"), "\(log)")
        #expect(log.contains("refused REVIEW_REQUIRED"), "\(log)")
        #expect(log.contains("one review needs_review: 1 approved, 0 rejected, 9 undecided"), "\(log)")
        #expect(log.contains("state-after reviewed"), "\(log)")
        #expect(log.contains("commit committed: 1 inserted, 10 updated"), "\(log)")
        #expect(log.contains("after-commit true 10 0"), "\(log)")
        #expect(log.contains("committed yes") && log.hasSuffix("done") && !log.contains("error"), "\(log)")
        // The markup in a product name is shown as text, never parsed.
        #expect(log.contains("markup 0 true"), "\(log)")

        // In the database: the catalog took the approved prices and the new product; the result is committed.
        let after = try await flow.catalog("page")
        #expect(after.count == 11)
        for i in 1...10 { #expect(after["W\(i)"]?.cents == (100 + i / 10) * 100 + (i % 10) * 10, "W\(i): \(after["W\(i)"]?.description ?? "-")") }
        #expect(after["W11"]?.cents == 500)
        let committed = try await flow.pool.query(
            "SELECT committed_at IS NOT NULL AS c, review_state FROM quarry.extraction_results WHERE job_id = $1", [job]
        ).first
        #expect(committed?.bool("c") == true && committed?.string("review_state") == "reviewed")
        let approved = try await flow.pool.query(
            "SELECT count(*) AS n FROM quarry.result_rows WHERE job_id = $1::uuid AND change = 'held' AND decision = 'approved'", [job]
        ).first?.int("n")
        #expect(approved == 10)

        // A screenshot of the job view for a person to look at.
        _ = try await DashboardTests.runChromium(
            ["--screenshot=/tmp/quarry-dashboard-job.png", "--window-size=1280,1100", "--hide-scrollbars"],
            url: flow.base + "/#token=\(flow.org.token)&job=\(job)")
    }
}
