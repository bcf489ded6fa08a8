//! The seller: who issues the invoices.

/// Who issues the invoices, as printed on each one (and kept in its snapshot).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seller {
    pub name: String,
    /// Postal address, one line each.
    pub address: Vec<String>,
    /// Legal form, share capital, registration (RCS, SIREN).
    pub legal: String,
    pub vat_number: String,
}

impl Default for Seller {
    /// The demo identity; deployments set theirs (`COMPTOIR_SELLER_*`).
    fn default() -> Self {
        Seller {
            name: "Comptoir Télécom SAS".into(),
            address: vec!["10 rue de la Paix".into(), "75002 Paris, France".into()],
            legal: "SAS au capital de 100 000 € · RCS Paris 912 345 678 · SIREN 912 345 678".into(),
            vat_number: "FR32912345678".into(),
        }
    }
}
