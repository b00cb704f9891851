"""What socialsched does to stay safe with input written by many hands: files a calendar
names are kept inside its folder (`paths`), media URLs are fetched without reaching
internal hosts (`safe_fetch`) and secrets never follow a redirect to another origin
(`redirects`) or reach a log (`redaction`); secret values come only from where the
operator grants them (`grants`), go only to the origins each adapter declares
(`destinations`) and the operator approved (`approval_checks`), through one kept-alive
HTTP client per channel (`http_client`). Import the modules themselves, e.g.
`from socialsched.trust.destinations import Destination, declare`.
"""
