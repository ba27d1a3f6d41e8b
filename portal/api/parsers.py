"""The Metal API's request body parser: DRF's JSON parser, held to a nesting depth."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from portal.limits import MAX_JSON_DEPTH, json_too_deep

# A body holds documents (customdata) one or two levels down; anything deeper than this is
# refused whole, before serializers, the idempotency fingerprint or error messages walk it
# recursively.
MAX_BODY_DEPTH = MAX_JSON_DEPTH + 8
TOO_DEEP = f"JSON parse error - the body nests more than {MAX_BODY_DEPTH} levels deep."


class MetalJSONParser(JSONParser):
    """JSON bodies, refused with a ParseError (422) when nested too deep to handle."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # The decoder recurses per level and gives up (with RecursionError, not a
            # ValueError DRF would turn into a ParseError) somewhere under a thousand.
            raise ParseError(TOO_DEEP) from None
        if json_too_deep(data, MAX_BODY_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
