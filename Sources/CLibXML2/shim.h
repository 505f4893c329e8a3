#pragma once
// Debian builds libxml2 with ICU, so <libxml/encoding.h> pulls in the system ICU headers, whose
// `UErrorCode` clashes with the copy Foundation ships (_FoundationICU) in any Swift file that sees
// both modules — an intermittent "definition has no member U_MF_…" build failure. Quarry never
// touches libxml2's ICU converters (only pointers to the handler struct), so hide them.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/xmlreader.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
