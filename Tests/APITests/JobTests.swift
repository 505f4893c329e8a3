import Foundation
import Models
import Postgres
import QuarryTestSupport
import Queue
import Testing

func uploadCSV(_ base: String, _ org: TestOrg) async throws -> String {
    let r = try await HTTP.request("POST", base + "/api/uploads?filename=p.csv", token: org.token, body: UploadTests.csv)
    guard r.status == 201, let id = r.data["upload_id"] as? String else { throw TestFailure("upload failed: \(r)") }
    return id
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct JobTests {
    @Test func createGetListCancel() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let upload = try await uploadCSV(base, org)
        var ids: [String] = []
        for i in 0..<3 {
            let r = try await HTTP.request(
                "POST", base + "/api/extraction/jobs", token: org.token,
                body: HTTP.json(["upload_id": upload, "config": ["supplier_id": "s1", "validation_mode": "strict"], "priority": i]))
            #expect(r.status == 201, "\(r)")
            #expect((r.data["position"] as? Int ?? 0) >= 1)
            #expect(r.data["estimated_wait_ms"] is Int)
            ids.append(try #require(r.data["job_id"] as? String))
        }
        let get = try await HTTP.request("GET", base + "/api/extraction/jobs/\(ids[0])", token: org.token)
        #expect(get.status == 200)
        #expect(get.data["status"] as? String == "queued")
        #expect(get.data["upload_id"] as? String == upload)
        let progress = try #require(get.data["progress"] as? [String: Any])
        for k in ["percent_complete", "current_step", "rows_processed", "elapsed_ms"] { #expect(progress[k] != nil, "\(k)") }
        #expect(get.data.keys.contains("error"))

        // Payload is what the worker reads.
        let payload =
            try await APIHarness.shared.pool.query("SELECT payload::text AS p FROM quarry.jobs WHERE id = $1::uuid", [ids[0]]).first?.string("p")
            ?? ""
        #expect(payload.contains("\"upload_id\": \"\(upload)\""))
        #expect(payload.contains("\"supplier_id\": \"s1\""))

        // Cursor pagination, newest first, 2 per page.
        let p1 = try await HTTP.request("GET", base + "/api/extraction/jobs?limit=2", token: org.token)
        let jobs1 = p1.data["jobs"] as? [[String: Any]] ?? []
        #expect(jobs1.count == 2)
        let cursor = try #require(p1.data["next_cursor"] as? String)
        let p2 = try await HTTP.request("GET", base + "/api/extraction/jobs?limit=2&cursor=\(cursor)", token: org.token)
        let jobs2 = p2.data["jobs"] as? [[String: Any]] ?? []
        #expect(jobs2.count == 1)
        #expect(p2.data["next_cursor"] is NSNull)
        let seen = Set((jobs1 + jobs2).compactMap { $0["job_id"] as? String })
        #expect(seen == Set(ids))
        let alias = try await HTTP.request("GET", base + "/api/jobs?status=queued", token: org.token)
        #expect((alias.data["jobs"] as? [Any])?.count == 3)

        let cancel = try await HTTP.request("DELETE", base + "/api/extraction/jobs/\(ids[1])", token: org.token)
        #expect(cancel.status == 200)
        #expect(cancel.data["cancelled"] as? Bool == true)
        #expect(cancel.data["status"] as? String == "cancelled")
        let again = try await HTTP.request("POST", base + "/api/jobs/\(ids[1])/cancel", token: org.token)
        #expect(again.data["cancelled"] as? Bool == false)

        // Another org sees none of it.
        let other = try await APIHarness.shared.org()
        #expect(try await HTTP.request("GET", base + "/api/extraction/jobs/\(ids[0])", token: other.token).status == 404)
        #expect(try await HTTP.request("DELETE", base + "/api/extraction/jobs/\(ids[0])", token: other.token).status == 404)
        let foreignUpload = try await HTTP.request(
            "POST", base + "/api/extraction/jobs", token: other.token, body: HTTP.json(["upload_id": upload]))
        #expect(foreignUpload.status == 404)
    }

    @Test func retryOnlyFinishedJobsWithOnlyRejected() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let upload = try await uploadCSV(base, org)
        let created = try await HTTP.request("POST", base + "/api/extraction/jobs", token: org.token, body: HTTP.json(["upload_id": upload]))
        let id = try #require(created.data["job_id"] as? String)
        let early = try await HTTP.request("POST", base + "/api/extraction/jobs/\(id)/retry", token: org.token)
        #expect(early.status == 409, "\(early)")
        _ = try await HTTP.request("DELETE", base + "/api/extraction/jobs/\(id)", token: org.token)
        let retry = try await HTTP.request(
            "POST", base + "/api/extraction/jobs/\(id)/retry", token: org.token,
            body: HTTP.json(["only_rejected": true, "config": ["validation_mode": "lenient"]]))
        #expect(retry.status == 201, "\(retry)")
        let newID = try #require(retry.data["job_id"] as? String)
        let payload =
            try await APIHarness.shared.pool.query("SELECT payload FROM quarry.jobs WHERE id = $1::uuid", [newID]).first?.string("payload") ?? ""
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
        #expect(obj["retry_of"] as? String == id)
        #expect(obj["only_rejected"] as? Bool == true)
        #expect(obj["upload_id"] as? String == upload)
        #expect((obj["config"] as? [String: Any])?["validation_mode"] as? String == "lenient")
    }

    @Test func badInputIs400() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let upload = try await uploadCSV(base, org)
        let malformed = try await HTTP.request("POST", base + "/api/extraction/jobs", token: org.token, body: Data("{\"upload_id\": ".utf8))
        #expect(malformed.status == 400)
        #expect(malformed.errorCode == "INVALID_REQUEST")
        let unknown = try await HTTP.request(
            "POST", base + "/api/extraction/jobs", token: org.token, body: HTTP.json(["upload_id": upload, "config": ["colour": "red"]]))
        #expect(unknown.status == 400)
        #expect(unknown.errorCode == "INVALID_CONFIG")
        #expect((unknown.json["error"] as? [String: Any])?["message"] as? String ?? "" == "unknown field 'colour' in config")
        let badMode = try await HTTP.request(
            "POST", base + "/api/extraction/jobs", token: org.token, body: HTTP.json(["upload_id": upload, "config": ["validation_mode": "loose"]]))
        #expect(badMode.status == 400)
        let badUUID = try await HTTP.request("GET", base + "/api/extraction/jobs/not-a-uuid", token: org.token)
        #expect(badUUID.status == 400)
        let badCursor = try await HTTP.request("GET", base + "/api/extraction/jobs?cursor=%%%", token: org.token)
        #expect(badCursor.status == 400)
        let badStatus = try await HTTP.request("GET", base + "/api/extraction/jobs?status=bogus", token: org.token)
        #expect(badStatus.status == 400)
        let forged = try await HTTP.request(
            "GET", base + "/api/extraction/jobs?cursor=\(Data("nonsense|zz".utf8).base64EncodedString())", token: org.token)
        #expect(forged.status == 400)
    }

    @Test func dlqListAndReprocess() async throws {
        let base = try await APIHarness.shared.base()
        let org = try await APIHarness.shared.org()
        let admin = try await APIHarness.shared.org(admin: true)
        let store = JobStore(pool: APIHarness.shared.pool)
        let kind = TestDatabase.uniqueKind("dlq")
        let jobID = try await store.enqueue(org: org.id, kind: kind, payload: "{\"x\":1}")
        let claimed = try #require(try await store.claim(workerID: "api-test", kinds: [kind], limit: 1).first)
        _ = try await store.fail(claimed, error: JobError(.validationError, "bad file"))
        let list = try await HTTP.request("GET", base + "/api/extraction/dlq", token: org.token)
        #expect(list.status == 200)
        let entries = list.data["entries"] as? [[String: Any]] ?? []
        let entry = try #require(entries.first { $0["job_id"] as? String == jobID.uuidString.lowercased() })
        #expect(entry["error_code"] as? String == "VALIDATION_ERROR")
        let dlqID = try #require(entry["dlq_id"] as? String)

        let other = try await APIHarness.shared.org()
        #expect(((try await HTTP.request("GET", base + "/api/extraction/dlq", token: other.token)).data["entries"] as? [Any])?.isEmpty == true)
        #expect(try await HTTP.request("POST", base + "/api/extraction/dlq/\(dlqID)/reprocess", token: other.token).status == 404)
        let fleet = try await HTTP.request("GET", base + "/api/extraction/dlq?all=true&limit=500", token: admin.token)
        #expect(fleet.status == 200)
        #expect((fleet.data["entries"] as? [[String: Any]] ?? []).contains { $0["dlq_id"] as? String == dlqID })

        let re = try await HTTP.request(
            "POST", base + "/api/extraction/dlq/\(dlqID)/reprocess", token: org.token, body: HTTP.json(["notes": "fixed the file"]))
        #expect(re.status == 201, "\(re)")
        let newID = try #require((re.data["new_job_id"] as? String).flatMap(UUID.init(uuidString:)))
        let row = try await APIHarness.shared.pool.query(
            "SELECT reprocessed_by, reprocess_notes FROM quarry.dead_letter_jobs WHERE dlq_id = $1::uuid", [dlqID]
        ).first
        #expect(row?.string("reprocess_notes") == "fixed the file")
        #expect(row?.string("reprocessed_by")?.contains(org.tokenID.uuidString.lowercased()) == true)
        #expect(try await HTTP.request("GET", base + "/api/extraction/jobs/\(newID.uuidString)", token: org.token).status == 200)
        let twice = try await HTTP.request("POST", base + "/api/extraction/dlq/\(dlqID)/reprocess", token: org.token)
        #expect(twice.status == 409)
    }

    @Test func monitorViewsHaveDocumentedKeys() async throws {
        let base = try await APIHarness.shared.base()
        let admin = try await APIHarness.shared.org(admin: true)
        let dash = try await HTTP.request("GET", base + "/api/extraction/monitor?view=dashboard", token: admin.token)
        #expect(dash.status == 200, "\(dash)")
        let d = dash.data
        #expect(Set(d.keys) == ["health", "queue", "performance", "errors", "dlq"])
        let keys: [(String, [String])] = [
            ("health", ["status", "queue_ok", "performance_ok", "dlq_ok", "last_check", "issues"]),
            ("queue", ["queued", "active", "dlq", "max_concurrency", "utilization_percent"]),
            (
                "performance",
                ["jobs_last_hour", "jobs_last_24h", "success_rate_24h", "avg_duration_ms", "rows_processed_24h", "throughput_rows_per_sec"]
            ),
            ("errors", ["total_errors_24h", "top_errors"]),
            ("dlq", ["size", "oldest_entry_age_minutes", "entries_needing_attention"]),
        ]
        for (section, expected) in keys {
            let obj = d[section] as? [String: Any] ?? [:]
            for k in expected { #expect(obj.keys.contains(k), "\(section).\(k)") }
            let single = try await HTTP.request("GET", base + "/api/extraction/monitor?view=\(section)&window=1h", token: admin.token)
            #expect(single.status == 200)
            for k in expected { #expect(single.data.keys.contains(k), "view=\(section) \(k)") }
        }
        let recent = try await HTTP.request("GET", base + "/api/extraction/monitor?view=recent-jobs&limit=5", token: admin.token)
        #expect((recent.data["jobs"] as? [Any])?.count ?? 99 <= 5)
        let hourly = try await HTTP.request("GET", base + "/api/extraction/monitor?view=hourly-stats", token: admin.token)
        #expect(hourly.data["stats"] is [Any])
        #expect(try await HTTP.request("GET", base + "/api/extraction/monitor?view=nope", token: admin.token).status == 400)
        #expect(try await HTTP.request("GET", base + "/api/jobs/stats", token: admin.token).status == 200)
        #expect(try await HTTP.request("GET", base + "/api/jobs/health", token: admin.token).status == 200)
        let metrics = try await HTTP.request("GET", base + "/metrics")
        #expect(metrics.text.contains("quarry_api_requests_total"))
        #expect(metrics.text.contains("quarry_dlq_pending"))
        #expect(try await HTTP.request("GET", base + "/readyz").status == 200)
    }
}
