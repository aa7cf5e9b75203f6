"""The private exposure check: "was this value in a leak?" without telling anyone what was asked.

The protocol (:mod:`verrou.lookup.protocol`) runs RFC 9497's VOPRF (:mod:`verrou.oprf`) over
buckets of an index built while dumps are ingested (:mod:`verrou.lookup.index`); the client
(:mod:`verrou.lookup.client`) is the one ``verrou lookup`` runs, and the portal runs the same
protocol in the browser.
"""
