"""The clearinghouse: vulnerabilities that models find, validated, deduplicated, prioritised and disclosed.

The service is :mod:`.clearinghouse` (reached as ``Airlock.clearinghouse``), its tables :mod:`.models`. Beneath them,
pure parts, each usable alone: scoring with the field's own libraries (:mod:`.scoring`: CVSS 4.0, CWE, SSVC); the
root-cause signature that groups duplicate reports into one case (:mod:`.signatures`); the checks a report passes
on arrival and the all-or-nothing bulk format (:mod:`.intake`); the disclosure clock (:mod:`.disclosure`); vendor
statuses and notifications (:mod:`.coordination`, :mod:`.outbox`); reproduction of a PoC in the sandbox
(:mod:`.reproduction`); advisories as CSAF 2.0 documents validated against the OASIS schema and as OSV records
(:mod:`.advisories`); and the commitment that proves who knew what, when (:mod:`.commitment`). See docs/vulns.md.
"""
