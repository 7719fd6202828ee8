"""The portal's web pages: route modules per area in :mod:`airlock.web.pages`, what they share beside them."""
