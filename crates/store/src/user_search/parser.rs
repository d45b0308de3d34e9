//! The lexer and parser of the v3 query syntax: text → [`Node`]. Bounded: the query length, the
//! nesting depth and the number of leaves are limited, so that any input ends quickly in a
//! [`Node`] or a [`SearchError`].

use super::SearchError;

/// Longest query accepted, in bytes (Auth0 answers 414 to very long URLs).
pub const MAX_QUERY_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses and `NOT`s.
pub const MAX_DEPTH: usize = 32;
/// Most field/value leaves in one query (Lucene's `maxClauseCount` is 1024).
pub const MAX_LEAVES: usize = 256;

/// One character of an unquoted term: literal (escaped or not) or an unescaped wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ch {
    Lit(char),
    Star,
    Quest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// Matches every user (`*`, `*:*`, or what a purely negative clause list starts from).
    All,
    /// `field:value`, or a bare value (`field` is `None`) searched in the default fields.
    Leaf {
        field: Option<String>,
        value: Value,
    },
    /// `_exists_:field` (also `field:*`).
    Exists(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A term or a quoted phrase: the whole value must match.
    Exact(String),
    /// A term with at least one `*`.
    Pattern(Vec<Pat>),
    /// `[lo TO hi]`, `{lo TO hi}` and mixes.
    Range(Bound, Bound),
}

/// A piece of a wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pat {
    Lit(String),
    Star,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Open,
    Incl(String),
    Excl(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `plain` when it has no escapes (only a plain word can be a keyword or a field name).
    Word {
        chars: Vec<Ch>,
        plain: bool,
    },
    Phrase(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Colon,
    And,
    Or,
    Not,
    Plus,
    Minus,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Character offsets (0-based) of the token in the query.
    start: usize,
    end: usize,
}

fn err(message: String) -> SearchError {
    SearchError { message }
}

fn at(pos: usize, what: &str) -> SearchError {
    err(format!(
        "Invalid query string: {what} at position {}",
        pos + 1
    ))
}

fn is_special(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | ':' | '"' | '^' | '~')
}

fn lex(q: &str) -> Result<Vec<Token>, SearchError> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            ':' => Some(Tok::Colon),
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '!' => Some(Tok::Not),
            _ => None,
        };
        if let Some(tok) = single {
            out.push(Token {
                tok,
                start,
                end: i + 1,
            });
            i += 1;
            continue;
        }
        if (c == '&' || c == '|') && chars.get(i + 1) == Some(&c) {
            let tok = if c == '&' { Tok::And } else { Tok::Or };
            out.push(Token {
                tok,
                start,
                end: i + 2,
            });
            i += 2;
            continue;
        }
        match c {
            '^' => return Err(at(i, "boosting with '^' is not supported")),
            '~' => {
                return Err(at(
                    i,
                    "fuzzy and proximity searches with '~' are not supported",
                ));
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(at(start, "unterminated quoted phrase")),
                        Some('"') => break,
                        Some('\\') => match chars.get(i + 1) {
                            Some(&n) => {
                                s.push(n);
                                i += 2;
                            }
                            None => return Err(at(i, "dangling escape character '\\'")),
                        },
                        Some(&n) => {
                            s.push(n);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Token {
                    tok: Tok::Phrase(s),
                    start,
                    end: i,
                });
            }
            _ => {
                let mut word = Vec::new();
                let mut plain = true;
                while let Some(&n) = chars.get(i) {
                    if is_special(n) {
                        break;
                    }
                    match n {
                        '\\' => match chars.get(i + 1) {
                            Some(&e) => {
                                word.push(Ch::Lit(e));
                                plain = false;
                                i += 2;
                            }
                            None => return Err(at(i, "dangling escape character '\\'")),
                        },
                        '*' => {
                            word.push(Ch::Star);
                            i += 1;
                        }
                        '?' => {
                            word.push(Ch::Quest);
                            i += 1;
                        }
                        _ => {
                            word.push(Ch::Lit(n));
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    tok: Tok::Word { chars: word, plain },
                    start,
                    end: i,
                });
            }
        }
    }
    Ok(out)
}

fn word_text(chars: &[Ch]) -> String {
    chars
        .iter()
        .map(|c| match c {
            Ch::Lit(c) => *c,
            Ch::Star => '*',
            Ch::Quest => '?',
        })
        .collect()
}

fn keyword(t: &Tok) -> Option<&'static str> {
    match t {
        Tok::Word { chars, plain: true } => match word_text(chars).as_str() {
            "AND" => Some("AND"),
            "OR" => Some("OR"),
            "NOT" => Some("NOT"),
            _ => None,
        },
        _ => None,
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word { chars, .. } => format!("'{}'", word_text(chars)),
        Tok::Phrase(s) => format!("\"{s}\""),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::Colon => "':'".into(),
        Tok::And => "'&&'".into(),
        Tok::Or => "'||'".into(),
        Tok::Not => "'!'".into(),
        Tok::Plus => "'+'".into(),
        Tok::Minus => "'-'".into(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Modifier {
    None,
    Must,
    MustNot,
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    leaves: usize,
    len: usize,
}

/// Parses a query. An empty (or blank) query matches every user.
pub fn parse(q: &str) -> Result<Node, SearchError> {
    if q.len() > MAX_QUERY_LEN {
        return Err(err(format!(
            "Invalid query string: the query is longer than {MAX_QUERY_LEN} characters"
        )));
    }
    let toks = lex(q)?;
    if toks.is_empty() {
        return Ok(Node::All);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        leaves: 0,
        len: q.chars().count(),
    };
    let node = p.or_expr(None)?;
    if let Some(t) = p.peek() {
        return Err(at(t.start, &format!("unexpected {}", describe(&t.tok))));
    }
    Ok(node)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn end_pos(&self) -> usize {
        self.len
    }

    fn unexpected_end(&self, what: &str) -> SearchError {
        at(
            self.end_pos(),
            &format!("unexpected end of query, expected {what}"),
        )
    }

    fn enter(&mut self, pos: usize) -> Result<(), SearchError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(at(
                pos,
                &format!("the query nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leaf(&mut self, pos: usize) -> Result<(), SearchError> {
        self.leaves += 1;
        if self.leaves > MAX_LEAVES {
            return Err(at(
                pos,
                &format!("the query has more than {MAX_LEAVES} terms"),
            ));
        }
        Ok(())
    }

    fn is_or(&self) -> bool {
        self.peek()
            .is_some_and(|t| t.tok == Tok::Or || keyword(&t.tok) == Some("OR"))
    }

    fn is_and(&self) -> bool {
        self.peek()
            .is_some_and(|t| t.tok == Tok::And || keyword(&t.tok) == Some("AND"))
    }

    /// `and_expr (OR and_expr)*`
    fn or_expr(&mut self, field: Option<&str>) -> Result<Node, SearchError> {
        let mut parts = vec![self.and_expr(field)?];
        while self.is_or() {
            self.next();
            parts.push(self.and_expr(field)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Node::Or(parts)
        })
    }

    /// `seq (AND seq)*`
    fn and_expr(&mut self, field: Option<&str>) -> Result<Node, SearchError> {
        let mut parts = vec![self.seq(field)?];
        while self.is_and() {
            self.next();
            parts.push(self.seq(field)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Node::And(parts)
        })
    }

    /// Clauses joined by whitespace. As in Lucene (default operator OR): `+x` must match, `-x`
    /// and `NOT x` must not, and the plain clauses are alternatives (required only when there is
    /// no `+` clause).
    fn seq(&mut self, field: Option<&str>) -> Result<Node, SearchError> {
        let mut musts = Vec::new();
        let mut shoulds = Vec::new();
        let mut nots = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t.tok, Tok::RParen) || self.is_or() || self.is_and() {
                break;
            }
            let (m, node) = self.clause(field)?;
            match m {
                Modifier::Must => musts.push(node),
                Modifier::MustNot => nots.push(node),
                Modifier::None => shoulds.push(node),
            }
        }
        if musts.is_empty() && shoulds.is_empty() && nots.is_empty() {
            return Err(match self.peek() {
                Some(t) => at(t.start, &format!("unexpected {}", describe(&t.tok))),
                None => self.unexpected_end("a search term"),
            });
        }
        let mut all = musts;
        if all.is_empty() && !shoulds.is_empty() {
            all.push(if shoulds.len() == 1 {
                shoulds.remove(0)
            } else {
                Node::Or(shoulds)
            });
        }
        if all.is_empty() {
            all.push(Node::All);
        }
        for n in nots {
            all.push(Node::Not(Box::new(n)));
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Node::And(all)
        })
    }

    /// `[+|-|NOT|!] clause` or a primary.
    fn clause(&mut self, field: Option<&str>) -> Result<(Modifier, Node), SearchError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.unexpected_end("a search term"));
        };
        let m = match t.tok {
            Tok::Plus => Modifier::Must,
            Tok::Minus | Tok::Not => Modifier::MustNot,
            _ if keyword(&t.tok) == Some("NOT") => Modifier::MustNot,
            _ => return Ok((Modifier::None, self.primary(field)?)),
        };
        self.next();
        self.enter(t.start)?;
        // A modifier applies to the clause that follows, itself possibly negated (`NOT -a`).
        let (inner_m, inner) = self.clause(field)?;
        self.depth -= 1;
        let inner = if inner_m == Modifier::MustNot {
            Node::Not(Box::new(inner))
        } else {
            inner
        };
        Ok((m, inner))
    }

    fn primary(&mut self, field: Option<&str>) -> Result<Node, SearchError> {
        let Some(t) = self.next() else {
            return Err(self.unexpected_end("a search term"));
        };
        match t.tok {
            Tok::LParen => self.group(t.start, field),
            Tok::Phrase(s) => {
                self.leaf(t.start)?;
                Ok(Node::Leaf {
                    field: field.map(str::to_owned),
                    value: Value::Exact(s),
                })
            }
            Tok::Word { chars, plain } => {
                if self.peek().is_some_and(|n| n.tok == Tok::Colon) {
                    self.next();
                    if chars.contains(&Ch::Quest)
                        || (chars.contains(&Ch::Star) && chars != [Ch::Star])
                    {
                        return Err(at(t.start, "wildcards are not supported in field names"));
                    }
                    let name = word_text(&chars);
                    if name.is_empty() {
                        return Err(at(t.start, "empty field name"));
                    }
                    if name == "_exists_" && plain {
                        return self.exists();
                    }
                    return self.field_value(&name);
                }
                self.leaf(t.start)?;
                term(field, chars, t.start)
            }
            Tok::LBracket | Tok::LBrace => Err(at(
                t.start,
                "a range needs a field name, as in logins_count:[1 TO 5]",
            )),
            other => Err(at(t.start, &format!("unexpected {}", describe(&other)))),
        }
    }

    /// `( or_expr )`, after the `(`.
    fn group(&mut self, start: usize, field: Option<&str>) -> Result<Node, SearchError> {
        self.enter(start)?;
        let inner = self.or_expr(field)?;
        match self.next() {
            Some(Token {
                tok: Tok::RParen, ..
            }) => {}
            Some(t) => {
                return Err(at(
                    t.start,
                    &format!("expected ')' but found {}", describe(&t.tok)),
                ));
            }
            None => return Err(self.unexpected_end("')'")),
        }
        self.depth -= 1;
        Ok(inner)
    }

    fn exists(&mut self) -> Result<Node, SearchError> {
        match self.next() {
            Some(Token {
                tok: Tok::Word { chars, .. },
                start,
                ..
            }) => {
                if chars.iter().any(|c| !matches!(c, Ch::Lit(_))) {
                    return Err(at(start, "wildcards are not supported in _exists_"));
                }
                self.leaf(start)?;
                Ok(Node::Exists(word_text(&chars)))
            }
            Some(Token {
                tok: Tok::Phrase(s),
                start,
                ..
            }) => {
                self.leaf(start)?;
                Ok(Node::Exists(s))
            }
            Some(t) => Err(at(
                t.start,
                &format!(
                    "expected a field name after _exists_: but found {}",
                    describe(&t.tok)
                ),
            )),
            None => Err(self.unexpected_end("a field name after _exists_:")),
        }
    }

    /// What follows `field:`.
    fn field_value(&mut self, name: &str) -> Result<Node, SearchError> {
        let Some(t) = self.next() else {
            return Err(self.unexpected_end(&format!("a value for field '{name}'")));
        };
        match t.tok {
            Tok::LParen => self.group(t.start, Some(name)),
            Tok::Phrase(s) => {
                self.leaf(t.start)?;
                Ok(leaf_of(name, Value::Exact(s)))
            }
            Tok::Word { chars, .. } => {
                self.leaf(t.start)?;
                term(Some(name), chars, t.start)
            }
            // A negative number: `app_metadata.balance:-5`.
            Tok::Minus => match self.next() {
                Some(Token {
                    tok: Tok::Word { mut chars, .. },
                    start,
                    ..
                }) if start == t.end => {
                    self.leaf(start)?;
                    chars.insert(0, Ch::Lit('-'));
                    term(Some(name), chars, start)
                }
                _ => Err(at(t.start, &format!("unexpected '-' after '{name}:'"))),
            },
            Tok::LBracket | Tok::LBrace => {
                self.leaf(t.start)?;
                let lo_incl = t.tok == Tok::LBracket;
                let lo = self.bound(name)?;
                match self.next() {
                    Some(Token {
                        tok: Tok::Word { chars, plain: true },
                        ..
                    }) if word_text(&chars) == "TO" => {}
                    Some(t) => {
                        return Err(at(
                            t.start,
                            &format!("expected 'TO' in range but found {}", describe(&t.tok)),
                        ));
                    }
                    None => return Err(self.unexpected_end("'TO'")),
                }
                let hi = self.bound(name)?;
                let hi_incl = match self.next() {
                    Some(Token {
                        tok: Tok::RBracket, ..
                    }) => true,
                    Some(Token {
                        tok: Tok::RBrace, ..
                    }) => false,
                    Some(t) => {
                        return Err(at(
                            t.start,
                            &format!(
                                "expected ']' or '}}' to close the range but found {}",
                                describe(&t.tok)
                            ),
                        ));
                    }
                    None => return Err(self.unexpected_end("']' or '}'")),
                };
                let mk = |v: Option<String>, incl: bool| match v {
                    None => Bound::Open,
                    Some(v) if incl => Bound::Incl(v),
                    Some(v) => Bound::Excl(v),
                };
                Ok(leaf_of(
                    name,
                    Value::Range(mk(lo, lo_incl), mk(hi, hi_incl)),
                ))
            }
            other => Err(at(
                t.start,
                &format!(
                    "expected a value for field '{name}' but found {}",
                    describe(&other)
                ),
            )),
        }
    }

    /// One end of a range: `*` (open), a phrase, or a term. A term may continue with `:` and
    /// more (`2019-01-01T10:00:00`) or start with `-` (a negative number) when written without
    /// spaces.
    fn bound(&mut self, name: &str) -> Result<Option<String>, SearchError> {
        let Some(t) = self.next() else {
            return Err(self.unexpected_end(&format!("a range bound for field '{name}'")));
        };
        let (mut text, mut end) = match t.tok {
            Tok::Phrase(s) => return Ok(Some(s)),
            Tok::Word { chars, .. } => {
                if chars == [Ch::Star] {
                    return Ok(None);
                }
                if chars.iter().any(|c| !matches!(c, Ch::Lit(_))) {
                    return Err(at(
                        t.start,
                        "wildcards are not supported inside a range bound",
                    ));
                }
                (word_text(&chars), t.end)
            }
            Tok::Minus => match self.next() {
                Some(Token {
                    tok: Tok::Word { chars, .. },
                    start,
                    end,
                }) if start == t.end && chars.iter().all(|c| matches!(c, Ch::Lit(_))) => {
                    (format!("-{}", word_text(&chars)), end)
                }
                _ => return Err(at(t.start, "unexpected '-' in range")),
            },
            other => {
                return Err(at(
                    t.start,
                    &format!("expected a range bound but found {}", describe(&other)),
                ));
            }
        };
        // Glue `a:b:c` written without spaces (times of day).
        while let (Some(c), Some(w)) = (self.toks.get(self.pos), self.toks.get(self.pos + 1)) {
            match (&c.tok, &w.tok) {
                (Tok::Colon, Tok::Word { chars, .. })
                    if c.start == end
                        && w.start == c.end
                        && chars.iter().all(|c| matches!(c, Ch::Lit(_))) =>
                {
                    text.push(':');
                    text.push_str(&word_text(chars));
                    end = w.end;
                    self.pos += 2;
                }
                _ => break,
            }
        }
        Ok(Some(text))
    }
}

fn leaf_of(name: &str, value: Value) -> Node {
    Node::Leaf {
        field: Some(name.to_owned()),
        value,
    }
}

/// An unquoted term: exact, a pattern, `*` (exists / everything).
fn term(field: Option<&str>, chars: Vec<Ch>, start: usize) -> Result<Node, SearchError> {
    if chars.contains(&Ch::Quest) {
        return Err(at(
            start,
            "the '?' wildcard is not supported (escape it as '\\?' to search for it)",
        ));
    }
    if chars.is_empty() {
        return Err(at(start, "empty search term"));
    }
    if chars.iter().all(|c| *c == Ch::Star) {
        return Ok(match field {
            Some(f) if f != "*" => Node::Exists(f.to_owned()),
            _ => Node::All,
        });
    }
    if !chars.contains(&Ch::Star) {
        return Ok(Node::Leaf {
            field: field.map(str::to_owned),
            value: Value::Exact(word_text(&chars)),
        });
    }
    let mut pats: Vec<Pat> = Vec::new();
    for c in chars {
        match c {
            Ch::Star => {
                if pats.last() != Some(&Pat::Star) {
                    pats.push(Pat::Star);
                }
            }
            Ch::Lit(c) => match pats.last_mut() {
                Some(Pat::Lit(s)) => s.push(c),
                _ => pats.push(Pat::Lit(c.to_string())),
            },
            Ch::Quest => {}
        }
    }
    Ok(Node::Leaf {
        field: field.map(str::to_owned),
        value: Value::Pattern(pats),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(f: &str, v: &str) -> Node {
        Node::Leaf {
            field: Some(f.into()),
            value: Value::Exact(v.into()),
        }
    }
    fn bare(v: &str) -> Node {
        Node::Leaf {
            field: None,
            value: Value::Exact(v.into()),
        }
    }
    fn not(n: Node) -> Node {
        Node::Not(Box::new(n))
    }
    fn p(q: &str) -> Node {
        match parse(q) {
            Ok(n) => n,
            Err(e) => panic!("{q}: {}", e.message),
        }
    }
    fn e(q: &str) -> String {
        match parse(q) {
            Ok(n) => panic!("{q} parsed as {n:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn terms_and_phrases() {
        assert_eq!(p("name:jane"), leaf("name", "jane"));
        assert_eq!(p("name:\"jane smith\""), leaf("name", "jane smith"));
        assert_eq!(p("  name : jane "), leaf("name", "jane"));
        assert_eq!(
            p("email:testaccdatasourceuser@acceptance.test.com"),
            leaf("email", "testaccdatasourceuser@acceptance.test.com")
        );
        assert_eq!(p("user_id:auth0|123"), leaf("user_id", "auth0|123"));
        assert_eq!(p("jane"), bare("jane"));
        assert_eq!(p("\"a b\""), bare("a b"));
        assert_eq!(p(""), Node::All);
        assert_eq!(p("   "), Node::All);
        assert_eq!(p("*"), Node::All);
        assert_eq!(p("*:*"), Node::All);
        assert_eq!(p("name:*"), Node::Exists("name".into()));
        assert_eq!(
            p("app_metadata.subscription.plan:\"gold\""),
            leaf("app_metadata.subscription.plan", "gold")
        );
        assert_eq!(p("a+b@x.com"), bare("a+b@x.com"));
        assert_eq!(p("jean-luc"), bare("jean-luc"));
        assert_eq!(p("app_metadata.n:-5"), leaf("app_metadata.n", "-5"));
    }

    #[test]
    fn escapes() {
        assert_eq!(p(r"name:John\ Doe"), leaf("name", "John Doe"));
        assert_eq!(p(r"name:a\:b"), leaf("name", "a:b"));
        assert_eq!(p(r"name:a\*"), leaf("name", "a*"));
        assert_eq!(p(r"name:\AND"), leaf("name", "AND"));
        assert_eq!(
            p(r#"name:"say \"hi\" \\ ok""#),
            leaf("name", r#"say "hi" \ ok"#)
        );
        assert_eq!(p(r"name:what\?"), leaf("name", "what?"));
        assert_eq!(p(r"name:\(x\)"), leaf("name", "(x)"));
        assert_eq!(p(r"\NOT"), bare("NOT"));
    }

    #[test]
    fn operators_and_precedence() {
        assert_eq!(
            p("a:1 OR b:2 AND c:3"),
            Node::Or(vec![
                leaf("a", "1"),
                Node::And(vec![leaf("b", "2"), leaf("c", "3")])
            ])
        );
        assert_eq!(
            p("a:1 || b:2 && c:3"),
            Node::Or(vec![
                leaf("a", "1"),
                Node::And(vec![leaf("b", "2"), leaf("c", "3")])
            ])
        );
        assert_eq!(
            p("(a:1 OR b:2) AND c:3"),
            Node::And(vec![
                Node::Or(vec![leaf("a", "1"), leaf("b", "2")]),
                leaf("c", "3")
            ])
        );
        // Implicit operator: OR.
        assert_eq!(p("a:1 b:2"), Node::Or(vec![leaf("a", "1"), leaf("b", "2")]));
        // Operators are upper-case only.
        assert_eq!(
            p("a:1 and b:2"),
            Node::Or(vec![leaf("a", "1"), bare("and"), leaf("b", "2")])
        );
    }

    #[test]
    fn negation_and_modifiers() {
        assert_eq!(
            p("NOT a:1"),
            Node::And(vec![Node::All, not(leaf("a", "1"))])
        );
        assert_eq!(p("!a:1"), p("NOT a:1"));
        assert_eq!(p("-a:1"), p("NOT a:1"));
        assert_eq!(
            p("a:1 AND NOT b:2"),
            Node::And(vec![
                leaf("a", "1"),
                Node::And(vec![Node::All, not(leaf("b", "2"))])
            ])
        );
        // Lucene: `a -b` is a without b; `a +b` is b (a only scores).
        assert_eq!(
            p("a:1 -b:2"),
            Node::And(vec![leaf("a", "1"), not(leaf("b", "2"))])
        );
        assert_eq!(p("a:1 +b:2"), leaf("b", "2"));
        assert_eq!(
            p("email_verified:false OR NOT _exists_:email_verified"),
            Node::Or(vec![
                leaf("email_verified", "false"),
                Node::And(vec![Node::All, not(Node::Exists("email_verified".into()))])
            ])
        );
        assert_eq!(
            p("NOT NOT a:1"),
            Node::And(vec![Node::All, not(not(leaf("a", "1")))])
        );
    }

    #[test]
    fn field_groups() {
        assert_eq!(
            p("name:(jane OR john)"),
            Node::Or(vec![leaf("name", "jane"), leaf("name", "john")])
        );
        assert_eq!(
            p(r#"email:("john@exampleco.com" OR "jane@exampleco.com")"#),
            Node::Or(vec![
                leaf("email", "john@exampleco.com"),
                leaf("email", "jane@exampleco.com")
            ])
        );
        assert_eq!(
            p("name:(jane OR nickname:jj)"),
            Node::Or(vec![leaf("name", "jane"), leaf("nickname", "jj")])
        );
    }

    #[test]
    fn wildcards() {
        assert_eq!(
            p("name:jo*"),
            Node::Leaf {
                field: Some("name".into()),
                value: Value::Pattern(vec![Pat::Lit("jo".into()), Pat::Star])
            }
        );
        assert_eq!(
            p("name:*john**"),
            Node::Leaf {
                field: Some("name".into()),
                value: Value::Pattern(vec![Pat::Star, Pat::Lit("john".into()), Pat::Star])
            }
        );
        assert_eq!(
            p("name:jane*smith"),
            Node::Leaf {
                field: Some("name".into()),
                value: Value::Pattern(vec![
                    Pat::Lit("jane".into()),
                    Pat::Star,
                    Pat::Lit("smith".into())
                ])
            }
        );
        // Inside quotes `*` is literal.
        assert_eq!(p("name:\"jo*\""), leaf("name", "jo*"));
        assert!(e("name:jo?n").contains("'?' wildcard is not supported"));
    }

    #[test]
    fn ranges() {
        let r = |f: &str, lo: Bound, hi: Bound| Node::Leaf {
            field: Some(f.into()),
            value: Value::Range(lo, hi),
        };
        use Bound::*;
        assert_eq!(
            p("logins_count:[100 TO 200]"),
            r("logins_count", Incl("100".into()), Incl("200".into()))
        );
        assert_eq!(
            p("logins_count:{100 TO *]"),
            r("logins_count", Excl("100".into()), Open)
        );
        assert_eq!(
            p("logins_count:[100 TO 200}"),
            r("logins_count", Incl("100".into()), Excl("200".into()))
        );
        assert_eq!(
            p("last_login:[* TO 2017-12-31]"),
            r("last_login", Open, Incl("2017-12-31".into()))
        );
        assert_eq!(
            p("created_at:[2019-01-01T10:00:00 TO \"2019-01-02T00:00:00.000Z\"}"),
            r(
                "created_at",
                Incl("2019-01-01T10:00:00".into()),
                Excl("2019-01-02T00:00:00.000Z".into())
            )
        );
        assert_eq!(
            p("app_metadata.n:[-5 TO -1]"),
            r("app_metadata.n", Incl("-5".into()), Incl("-1".into()))
        );
    }

    #[test]
    fn exists() {
        assert_eq!(p("_exists_:email"), Node::Exists("email".into()));
        assert_eq!(
            p("(NOT _exists_:logins_count OR logins_count:0)"),
            Node::Or(vec![
                Node::And(vec![Node::All, not(Node::Exists("logins_count".into()))]),
                leaf("logins_count", "0")
            ])
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(
            e("name:(jane"),
            "Invalid query string: unexpected end of query, expected ')' at position 11"
        );
        assert_eq!(
            e("name:jane)"),
            "Invalid query string: unexpected ')' at position 10"
        );
        assert!(e("name:\"jane").contains("unterminated quoted phrase at position 6"));
        assert!(e("name:").contains("expected a value for field 'name'"));
        assert!(e("logins_count:[1 2]").contains("expected 'TO'"));
        assert!(e("logins_count:[1 TO 2").contains("']' or '}'"));
        assert!(e("logins_count:[1 TO 2)").contains("close the range"));
        assert!(e("[1 TO 2]").contains("needs a field name"));
        assert!(e("name:jane^2").contains("'^'"));
        assert!(e("name:jane~").contains("'~'"));
        assert!(e("a:1 AND").contains("unexpected end"));
        assert!(e("AND a:1").contains("unexpected 'AND'"));
        assert!(e("a:1 OR OR b:2").contains("unexpected 'OR'"));
        assert!(e("NOT").contains("unexpected end"));
        assert!(e("()").contains("unexpected ')'"));
        assert!(e(r"name:a\").contains("dangling escape"));
        assert!(e("na*e:x").contains("field names"));
        assert!(e("_exists_:").contains("_exists_"));
        assert!(e(":x").contains("unexpected ':'"));
        assert!(e("logins_count:[1* TO 2]").contains("inside a range"));
    }

    #[test]
    fn limits() {
        let deep = format!("{}a:1{}", "(".repeat(40), ")".repeat(40));
        assert!(e(&deep).contains("nests deeper"));
        let nots = format!("{}a:1", "NOT ".repeat(40));
        assert!(e(&nots).contains("nests deeper"));
        let many = vec!["a:1"; 300].join(" OR ");
        assert!(e(&many).contains("more than 256 terms"));
        let long = "a".repeat(MAX_QUERY_LEN + 1);
        assert!(e(&long).contains("longer than"));
        // Within the limits.
        let ok = format!("{}a:1{}", "(".repeat(30), ")".repeat(30));
        assert_eq!(p(&ok), leaf("a", "1"));
    }
}
