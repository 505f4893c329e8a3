import Models

extension SheetSelector {
    /// The position of the selected sheet among `names` (workbook order); `nil` selects the first sheet.
    ///
    /// - Throws: `.malformedFile` when the workbook has no sheet, `.invalidConfig` when the name or index matches none.
    static func pick(_ selector: SheetSelector?, among names: [String]) throws -> Int {
        guard !names.isEmpty else { throw JobError(.malformedFile, "the workbook has no worksheet") }
        let list = names.joined(separator: ", ")
        switch selector {
        case nil:
            return 0
        case .index(let i):
            guard i >= 0 && i < names.count else {
                throw JobError(.invalidConfig, "sheet index \(i) out of range (sheets: \(list))", details: ["sheet": String(i), "sheets": list])
            }
            return i
        case .name(let name):
            if let i = names.firstIndex(of: name) ?? names.firstIndex(where: { $0.lowercased() == name.lowercased() }) { return i }
            throw JobError(.invalidConfig, "no sheet named \"\(name)\" (sheets: \(list))", details: ["sheet": name, "sheets": list])
        }
    }
}
