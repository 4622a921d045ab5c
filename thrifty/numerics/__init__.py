"""thrifty.numerics: number formats (bfloat16 fields and rounding), policies, term encodings."""

from thrifty.numerics.formats import (
    BFLOAT16,
    FLOAT16,
    FLOAT32,
    FORMATS,
    Fields,
    FloatFormat,
    bfloat16_bits_to_float32,
    bfloat16_bits_to_tensor,
    fields,
    fields_from_bits,
    float_bits,
    to_bfloat16_bits,
)
from thrifty.numerics.policy import PolicyCounts, apply_bfloat16_policies
from thrifty.numerics.terms import (
    ENCODINGS,
    Terms,
    encode_terms,
    reference_terms,
    significand_tables,
    term_count,
    term_masks,
)

__all__ = [
    "BFLOAT16",
    "ENCODINGS",
    "FLOAT16",
    "FLOAT32",
    "FORMATS",
    "Fields",
    "FloatFormat",
    "PolicyCounts",
    "Terms",
    "apply_bfloat16_policies",
    "bfloat16_bits_to_float32",
    "bfloat16_bits_to_tensor",
    "encode_terms",
    "fields",
    "fields_from_bits",
    "float_bits",
    "reference_terms",
    "significand_tables",
    "term_count",
    "term_masks",
    "to_bfloat16_bits",
]
