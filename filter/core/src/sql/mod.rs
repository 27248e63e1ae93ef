//! SQL inspection: tokenizer and statement analysis (being written).
