import Foundation

/// Header aliases per canonical field (English, German, French, Spanish, Dutch), compared after
/// `FieldAliases.normalize`.
enum FieldAliases {
    static let table: [(CanonicalField, [String])] = [
        (
            .sku,
            [
                "SKU", "Item No", "Item Number", "Item #", "Item Code", "Article", "Article No", "Article Number",
                "Art.-Nr.", "Art Nr", "Artikelnummer", "Artikel-Nr.", "Artikel", "Part Number", "Part No", "Part #",
                "Product Code", "Product ID", "Product No", "Code", "Ref", "Reference", "Référence", "Réf.",
                "Code article", "Referencia", "Código", "Artikelnr", "Artikelcode", "Productcode", "Id",
            ]
        ),
        (
            .supplierSku,
            [
                "Supplier SKU", "Supplier Code", "Vendor SKU", "Vendor Code", "Supplier Part Number",
                "Mfr Part No", "MPN", "Manufacturer Part Number", "Lieferantenartikelnummer", "Herstellernummer",
                "Réf. fournisseur", "Référence fournisseur", "Ref. proveedor", "Leveranciersnummer",
            ]
        ),
        (
            .price,
            [
                "Price", "Unit Price", "Net Price", "List Price", "Price Net", "Sales Price", "Cost", "Unit Cost",
                "Preis", "Einzelpreis", "Nettopreis", "Listenpreis", "VK", "EK", "Prix", "Prix unitaire", "Prix HT",
                "Tarif", "Precio", "Precio unitario", "Prijs", "Stukprijs", "Eenheidsprijs", "Netto prijs",
            ]
        ),
        (.currency, ["Currency", "Cur", "Curr", "Ccy", "Währung", "Devise", "Monnaie", "Moneda", "Divisa", "Valuta"]),
        (
            .quantity,
            [
                "Qty", "Quantity", "Stock", "Qty Available", "Available", "On Hand", "Inventory", "Menge",
                "Bestand", "Lagerbestand", "Anzahl", "Quantité", "Qté", "Cantidad", "Existencias", "Aantal",
                "Voorraad", "Hoeveelheid",
            ]
        ),
        (.unit, ["Unit", "UOM", "Unit of Measure", "Einheit", "Mengeneinheit", "ME", "Unité", "Unidad", "Eenheid"]),
        (
            .category,
            [
                "Category", "Product Category", "Group", "Product Group", "Kategorie", "Warengruppe",
                "Produktgruppe", "Catégorie", "Famille", "Categoría", "Familia", "Categorie", "Productgroep",
            ]
        ),
        (
            .brand,
            [
                "Brand", "Manufacturer", "Make", "Marke", "Hersteller", "Marque", "Fabricant", "Marca",
                "Fabricante", "Merk", "Fabrikant",
            ]
        ),
        (
            .barcode,
            [
                "Barcode", "EAN", "EAN13", "EAN Code", "GTIN", "UPC", "Bar Code", "Strichcode", "Code EAN",
                "Code-barres", "Código de barras", "Streepjescode",
            ]
        ),
        (
            .minOrderQty,
            [
                "MOQ", "Min Order Qty", "Minimum Order Quantity", "Min Qty", "Mindestbestellmenge",
                "Mindestmenge", "Quantité minimum", "Cantidad mínima", "Minimale afname",
            ]
        ),
        (
            .packSize,
            [
                "Pack Size", "Pack", "Package Size", "Case Pack", "Packaging", "VPE", "Verpackungseinheit",
                "Conditionnement", "Colisage", "Embalaje", "Verpakking",
            ]
        ),
        (
            .vatRate,
            [
                "VAT", "VAT Rate", "VAT %", "Tax Rate", "Tax", "MwSt", "MwSt.-Satz", "USt", "Steuersatz", "TVA",
                "Taux TVA", "IVA", "BTW", "BTW-tarief",
            ]
        ),
    ]

    /// Aliases meaning a short product name.
    static let nameAliases = [
        "Name", "Product Name", "Product", "Item Name", "Item", "Title", "Product Title",
        "Bezeichnung", "Artikelbezeichnung", "Produktname", "Artikelname", "Kurztext",
        "Désignation", "Nom", "Nom du produit", "Libellé", "Nombre", "Producto", "Naam",
        "Productnaam", "Artikelnaam",
    ]
    /// Aliases meaning a description (used for `name` when no name column exists).
    static let descriptionAliases = [
        "Description", "Product Description", "Item Description", "Long Description",
        "Details", "Beschreibung", "Langtext", "Artikelbeschreibung", "Descriptif",
        "Descripción", "Omschrijving", "Beschrijving",
    ]

    /// Normalized alias → field, built once.
    static let lookup: [String: CanonicalField] = {
        var map: [String: CanonicalField] = [:]
        for (field, aliases) in table {
            for alias in aliases where map[normalize(alias)] == nil { map[normalize(alias)] = field }
        }
        return map
    }()
    static let normalizedNames = Set(nameAliases.map(normalize))
    static let normalizedDescriptions = Set(descriptionAliases.map(normalize))

    /// Lowercased, accents folded, parenthesized suffixes ("Price (EUR)") and everything but letters/digits removed.
    static func normalize(_ header: String) -> String {
        var text = header
        if let paren = text.firstIndex(of: "("), paren != text.startIndex { text = String(text[..<paren]) }
        let folded = text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: Locale(identifier: "en_US_POSIX"))
            .lowercased()
            .replacingOccurrences(of: "ß", with: "ss")
        var out = String.UnicodeScalarView()
        for scalar in folded.unicodeScalars where scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "#" || scalar == "%" {
            out.append(scalar)
        }
        return String(out)
    }

    /// Whether a header matches any alias (used by header detection).
    static func isKnown(_ header: String) -> Bool {
        let key = normalize(header)
        guard !key.isEmpty else { return false }
        return lookup[key] != nil || normalizedNames.contains(key) || normalizedDescriptions.contains(key)
    }

    /// Whether a header contains an alias of at least four letters ("Unit Price EUR excl. VAT" ⊇ "unitprice"),
    /// as the mapper's looser pass reads it.
    static func containsKnown(_ header: String) -> Bool {
        let key = normalize(header)
        guard key.count >= 4 else { return false }
        return lookup.keys.contains { $0.count >= 4 && key.contains($0) }
    }
}
