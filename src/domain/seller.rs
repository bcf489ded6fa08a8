//! The seller: who issues the invoices.

/// Who issues the invoices, as printed on each one (and kept in its snapshot).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seller {
    pub name: String,
    /// Postal address, one line each.
    pub address: Vec<String>,
    /// Legal form, share capital, registration (RCS).
    pub legal: String,
    pub vat_number: String,
    /// The SIREN (9 digits, Luhn key): a mandatory mention. Empty in the
    /// snapshots of invoices issued before it was kept (their `legal` line
    /// carried it).
    #[serde(default)]
    pub siren: String,
    /// Where the seller receives e-invoices (its directory address), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_invoicing_address: Option<String>,
    /// The seller opted to pay VAT on debits (prints "Option pour le
    /// paiement de la taxe d'après les débits").
    #[serde(default)]
    pub vat_on_debits: bool,
}

impl Default for Seller {
    /// The demo identity; deployments set theirs (`COMPTOIR_SELLER_*`).
    fn default() -> Self {
        Seller {
            name: "Comptoir Télécom SAS".into(),
            address: vec!["10 rue de la Paix".into(), "75002 Paris, France".into()],
            legal: "SAS au capital de 100 000 € · RCS Paris 912 345 675".into(),
            vat_number: "FR65912345675".into(),
            siren: "912345675".into(),
            e_invoicing_address: None,
            vat_on_debits: false,
        }
    }
}
