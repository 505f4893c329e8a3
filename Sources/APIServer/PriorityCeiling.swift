import APIAuth

extension APIServer {
    /// Refuses a member token's `priority` above `API_MAX_MEMBER_PRIORITY` (403 `FORBIDDEN`); admins may use the
    /// whole range. Every route that lets a client choose a priority calls this (today: job creation; a retry or a
    /// DLQ reprocess keeps the original job's priority).
    func checkPriorityCeiling(_ priority: Int, _ who: APIPrincipal) throws {
        guard priority > config.maxMemberPriority, !who.isAdmin else { return }
        throw APIError.forbidden("priority above \(config.maxMemberPriority) needs an admin token (API_MAX_MEMBER_PRIORITY)")
    }
}
