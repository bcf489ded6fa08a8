//! The seller (BG-4) and the buyer (BG-7) as issued: names, postal
//! addresses, SIREN (BT-30/BT-47, scheme 0002), VAT identifiers and the
//! electronic addresses invoices are routed to (BT-34/BT-49).

use en16931::Identifier;
use en16931::codes::generated::EAS_SCHEMES;
use en16931::codes::guard;
use en16931::invoice::{Party, PostalAddress};

use crate::domain::issued::AddressFieldsSnapshot;
use crate::domain::seller::Seller;
use crate::render::einvoice::RenderError;

/// ISO 6523 ICD of the French SIRENE register: the SIREN's scheme (BR-FR-10,
/// BR-FR-11, BR-FR-32).
const SIREN_SCHEME: &str = "0002";
/// The EAS of the French e-invoicing directory (annuaire): addresses
/// `SIREN`, `SIREN_SIRET`, `SIREN_SUFFIXE`.
const DIRECTORY_SCHEME: &str = "0225";

/// EAS codes of VAT numbers, by the number's prefix (CEF EAS code list).
/// A buyer outside France without a directory address is reached by its
/// VAT number, as in the Peppol network.
const VAT_SCHEMES: [(&str, &str); 37] = [
    ("AD", "9922"),
    ("AL", "9923"),
    ("AT", "9914"),
    ("BA", "9924"),
    ("BE", "9925"),
    ("BG", "9926"),
    ("CH", "9927"),
    ("CY", "9928"),
    ("CZ", "9929"),
    ("DE", "9930"),
    ("EE", "9931"),
    ("EL", "9933"),
    ("ES", "9920"),
    ("FR", "9957"),
    ("GB", "9932"),
    ("GR", "9933"),
    ("HR", "9934"),
    ("HU", "9910"),
    ("IE", "9935"),
    ("LI", "9936"),
    ("LT", "9937"),
    ("LU", "9938"),
    ("LV", "9939"),
    ("MC", "9940"),
    ("ME", "9941"),
    ("MK", "9942"),
    ("MT", "9943"),
    ("NL", "9944"),
    ("PL", "9945"),
    ("PT", "9946"),
    ("RO", "9947"),
    ("RS", "9948"),
    ("SI", "9949"),
    ("SK", "9950"),
    ("SM", "9951"),
    ("TR", "9952"),
    ("VA", "9953"),
];

/// The seller, as its snapshot kept it.
pub(super) fn seller(s: &Seller) -> Result<Party, RenderError> {
    let vat = vat_identifier(Some(&s.vat_number));
    // The seller is a French company (it has a SIREN): its country is its
    // VAT number's, France otherwise.
    let country = vat
        .as_deref()
        .map(|v| &v[..2])
        .and_then(|c| guard::country(c).ok())
        .map_or_else(|| "FR".to_owned(), |c| c.as_str().to_owned());
    let siren = siren(Some(&s.siren)).or_else(|| {
        // Snapshots from before the SIREN was kept: a French VAT number is
        // `FR`, a 2-character key and the SIREN.
        vat.as_deref()
            .filter(|v| v.starts_with("FR") && v.len() == 13)
            .and_then(|v| siren(Some(&v[4..])))
    });
    let mut party = Party::new(s.name.clone(), seller_address(&s.address, &country)?);
    party.vat_identifier = vat;
    party.legal_registration = siren
        .as_deref()
        .map(|n| Identifier::schemed(n, SIREN_SCHEME));
    party.additional_legal_information = Some(s.legal.trim().to_owned()).filter(|l| !l.is_empty());
    party.electronic_address = electronic_address(
        s.e_invoicing_address.as_deref(),
        siren.as_deref(),
        party.vat_identifier.as_deref(),
    );
    Ok(party)
}

/// The buyer from its verified billing address; a snapshot without one
/// (documents issued before addresses were kept) gives the account's name in
/// the territory its VAT was decided for.
pub(super) fn buyer(
    b: Option<&AddressFieldsSnapshot>,
    account_name: &str,
    territory: Option<&str>,
) -> Result<Party, RenderError> {
    let Some(b) = b else {
        let country = territory
            .and_then(|t| guard::country(t).ok())
            .map_or_else(|| "FR".to_owned(), |c| c.as_str().to_owned());
        let address = PostalAddress {
            country: Some(country_code(&country)?),
            ..PostalAddress::default()
        };
        return Ok(Party::new(account_name.to_owned(), address));
    };
    let mut address = PostalAddress::new(
        b.line1.clone(),
        b.city.clone(),
        b.postal_code.clone(),
        &b.country,
    )
    .map_err(|e| RenderError::Model(format!("buyer country {:?}: {e}", b.country)))?;
    address.line2 = b.line2.clone().filter(|l| !l.trim().is_empty());
    address.subdivision = b.region.clone().filter(|r| !r.trim().is_empty());
    let siren = siren(b.siren.as_deref());
    let mut party = Party::new(b.company_name.clone(), address);
    party.vat_identifier = vat_identifier(b.vat_number.as_deref());
    party.legal_registration = siren
        .as_deref()
        .map(|n| Identifier::schemed(n, SIREN_SCHEME));
    party.electronic_address = electronic_address(
        b.e_invoicing_address.as_deref(),
        siren.as_deref(),
        party.vat_identifier.as_deref(),
    );
    Ok(party)
}

fn country_code(code: &str) -> Result<en16931::invoice::Code, RenderError> {
    guard::country(code).map_err(|e| RenderError::Model(format!("country {code:?}: {e}")))
}

/// The seller's address lines (`10 rue de la Paix`, `75002 Paris, France`):
/// the line that starts with a postcode gives BT-38 and BT-37, the lines
/// before it BT-35, BT-36 and BT-162.
fn seller_address(lines: &[String], country: &str) -> Result<PostalAddress, RenderError> {
    let mut address = PostalAddress {
        country: Some(country_code(country)?),
        ..PostalAddress::default()
    };
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let city_line = lines.iter().position(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|p| p.len() == 5 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    let street = match city_line {
        Some(i) => {
            let (post_code, rest) = lines[i]
                .split_once(char::is_whitespace)
                .unwrap_or((lines[i], ""));
            // `Paris, France`: the country is BT-40 already.
            let city = rest.split(',').next().unwrap_or("").trim();
            address.post_code = Some(post_code.to_owned());
            address.city = Some(city.to_owned()).filter(|c| !c.is_empty());
            &lines[..i]
        }
        None => &lines[..],
    };
    let mut street = street.iter().map(|l| (*l).to_owned());
    address.line1 = street.next();
    address.line2 = street.next();
    let rest: Vec<String> = street.collect();
    address.line3 = (!rest.is_empty()).then(|| rest.join(", "));
    Ok(address)
}

/// A SIREN: 9 digits (the snapshot's were checked with their key).
fn siren(raw: Option<&str>) -> Option<String> {
    let digits: String = raw?.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// BT-31 / BT-48: a VAT identifier starts with its country's ISO code (or
/// `EL`, BR-CO-09). A number that does not (kept as given outside the EU)
/// is left out rather than make the document invalid.
fn vat_identifier(raw: Option<&str>) -> Option<String> {
    let v: String = raw?.chars().filter(|c| !c.is_whitespace()).collect();
    let prefix = v.get(..2)?;
    let known = prefix == "EL" || guard::country(prefix).is_ok();
    (v.len() > 2 && known).then_some(v)
}

/// BT-34 / BT-49, which the French CTC rules require on every document
/// (BR-FR-12, BR-FR-13): the address the party gave (`0225:732829320`,
/// `0088:4012345000009`, `EM:factures@example.fr`, or a bare directory
/// address `732829320_FACTURES`); else its directory address by default,
/// the SIREN (scheme 0225: every company in the French directory has it);
/// else its VAT number under that state's VAT scheme. A buyer with none of
/// these (a consumer, a company outside the EU without a VAT number) has
/// no electronic address.
pub(super) fn electronic_address(
    given: Option<&str>,
    siren: Option<&str>,
    vat: Option<&str>,
) -> Option<Identifier> {
    given
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .and_then(given_address)
        .or_else(|| siren.map(|s| Identifier::schemed(s, DIRECTORY_SCHEME)))
        .or_else(|| {
            let v = vat?;
            let scheme = VAT_SCHEMES.iter().find(|(p, _)| v.starts_with(p))?.1;
            Some(Identifier::schemed(v, scheme))
        })
}

/// An address as given: `SCHEME:value` with a CEF EAS scheme, an email, or
/// a directory address.
fn given_address(raw: &str) -> Option<Identifier> {
    if let Some((scheme, value)) = raw.split_once(':') {
        let (scheme, value) = (scheme.trim(), value.trim());
        if en16931::codes::contains(EAS_SCHEMES, scheme) && !value.is_empty() {
            if scheme == DIRECTORY_SCHEME && !directory_format(value) {
                return None;
            }
            // Checks the value's shape where the scheme has one (a GLN's key).
            return Identifier::eas(value, scheme).ok();
        }
    }
    if raw.contains('@') && !raw.contains(char::is_whitespace) {
        return Some(Identifier::schemed(raw, "EM"));
    }
    directory_format(raw).then(|| Identifier::schemed(raw, DIRECTORY_SCHEME))
}

/// A directory address: letters, digits, `+ - _ .` (BR-FR-23), at most 125
/// characters (BR-FR-25).
fn directory_format(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 125
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c))
}
