//! All `sql` text conditions that are regexes, searched in one pass over a new query's SQL
//! (issue 16): each condition then reads its own bit instead of running its own regex.

use super::matcher::REGEX_SIZE_LIMIT;
use super::{Condition, Matcher, Rule};
use regex::{RegexSet, RegexSetBuilder, SetMatches};
use std::cell::OnceCell;

/// The compiled set; `None` when fewer than two conditions could share it (one regex gains
/// nothing from a set) or when the set would not compile within the size limit: then
/// every condition runs its own regex, as before.
#[derive(Debug, Clone, Default)]
pub struct TextSearch {
    set: Option<RegexSet>,
}

impl TextSearch {
    /// Gives each `sql` regex condition of `rules` its slot in the set, in rule order.
    pub fn pool(rules: &mut [Rule]) -> TextSearch {
        let mut patterns = Vec::new();
        for rule in rules.iter_mut() {
            if let Some(c) = rule.when.as_mut() {
                collect(c, &mut patterns);
            }
        }
        let set = (patterns.len() >= 2)
            .then(|| {
                RegexSetBuilder::new(&patterns)
                    .size_limit(REGEX_SIZE_LIMIT.saturating_mul(patterns.len()))
                    .build()
                    .ok()
            })
            .flatten();
        if set.is_none() {
            // Nothing to share: no condition may look for a bit that does not exist.
            rules.iter_mut().filter_map(|r| r.when.as_mut()).for_each(unpool);
        }
        TextSearch { set }
    }
}

/// Gives every `sql` regex condition the next slot and keeps its pattern. The set is made
/// of each regex's own pattern (anchors included for `regex` and `glob`), so a slot's bit is
/// exactly that regex's `is_match`.
fn collect(c: &mut Condition, patterns: &mut Vec<String>) {
    match c {
        Condition::All(cs) | Condition::Any(cs) => cs.iter_mut().for_each(|c| collect(c, patterns)),
        Condition::Not(c) => collect(c, patterns),
        Condition::SqlText(Matcher::Regex(r), slot) => {
            *slot = Some(patterns.len());
            patterns.push(r.as_str().to_string());
        }
        _ => {}
    }
}

fn unpool(c: &mut Condition) {
    match c {
        Condition::All(cs) | Condition::Any(cs) => cs.iter_mut().for_each(unpool),
        Condition::Not(c) => unpool(c),
        Condition::SqlText(_, slot) => *slot = None,
        _ => {}
    }
}

/// One request's results of the set, worked out the first time a pooled condition asks:
/// a request whose rules are decided before any `sql` condition pays nothing.
pub struct TextHits<'a> {
    search: &'a TextSearch,
    /// The request's SQL text; the results are for this text only.
    text: &'a str,
    hits: OnceCell<SetMatches>,
}

impl<'a> TextHits<'a> {
    pub fn new(search: &'a TextSearch, text: &'a str) -> TextHits<'a> {
        TextHits { search, text, hits: OnceCell::new() }
    }

    /// Whether the pattern in `slot` matches the text; None when there is no set or no such
    /// slot, and then the caller runs the condition's own regex.
    pub fn matched(&self, slot: usize) -> Option<bool> {
        let set = self.search.set.as_ref()?;
        let hits = self.hits.get_or_init(|| set.matches(self.text));
        // `SetMatches::matched` panics past its end; a slot always fits, but a panic is an outage.
        (slot < hits.len()).then(|| hits.matched(slot))
    }
}
