"""What every area of the web edge shares: ``incoming`` (strict request parsing), ``guard``
(sessions and CSRF), ``responses`` (JSON, HTML, cookies, security headers), ``pages`` (page
chrome and notices), ``status`` (domain errors to HTTP statuses, in one place), ``routing``
(areas into Chalice Blueprints) and ``middleware`` (the edge every request passes)."""
