//! A trie of topic filters: Paho's `MQTTMatcher`, used to dispatch a message
//! to every `message_callback_add` filter that matches its topic.

use std::collections::HashMap;

/// Topic filters mapped to values, with a lookup of every filter that matches
/// a topic.
///
/// Matches come in Paho's order: depth first, and at each level the exact
/// level before `+`, before `#`.
///
/// ```
/// use mqtt_tether::topic::TopicMatcher;
///
/// let mut m = TopicMatcher::new();
/// m.insert("sensors/+/temp", 1);
/// m.insert("sensors/#", 2);
/// m.insert("sensors/kitchen/temp", 3);
/// let found: Vec<_> = m.matches("sensors/kitchen/temp").map(|(f, v)| (f, *v)).collect();
/// assert_eq!(found, [("sensors/kitchen/temp", 3), ("sensors/+/temp", 1), ("sensors/#", 2)]);
/// ```
///
/// Filters may have any number of levels: every walk of the trie, dropping it
/// included, uses a heap stack rather than recursion, so even a filter of
/// 65,535 slashes cannot overflow the thread's stack.
pub struct TopicMatcher<T> {
    root: Node<T>,
    len: usize,
}

struct Node<T> {
    children: HashMap<String, Node<T>>,
    /// The filter that ends here, and its value.
    entry: Option<(String, T)>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            entry: None,
        }
    }
}

impl<T> Drop for Node<T> {
    // The derived drop would recurse once per level.
    fn drop(&mut self) {
        let mut stack: Vec<Node<T>> = self.children.drain().map(|(_, n)| n).collect();
        while let Some(mut node) = stack.pop() {
            stack.extend(node.children.drain().map(|(_, n)| n));
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for TopicMatcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<T> Default for TopicMatcher<T> {
    fn default() -> Self {
        TopicMatcher::new()
    }
}

impl<T> TopicMatcher<T> {
    /// An empty matcher.
    pub fn new() -> Self {
        TopicMatcher {
            root: Node::default(),
            len: 0,
        }
    }

    /// How many filters the matcher holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the matcher holds no filter.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maps `filter` to `value` (Paho's `matcher[filter] = value`); returns the
    /// value it replaces. The filter is not validated, as in Paho.
    pub fn insert(&mut self, filter: &str, value: T) -> Option<T> {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.children.entry(level.to_owned()).or_default();
        }
        let old = node
            .entry
            .replace((filter.to_owned(), value))
            .map(|(_, v)| v);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value of exactly this filter.
    pub fn get(&self, filter: &str) -> Option<&T> {
        let mut node = &self.root;
        for level in filter.split('/') {
            node = node.children.get(level)?;
        }
        node.entry.as_ref().map(|(_, v)| v)
    }

    /// Removes exactly this filter (Paho's `del matcher[filter]`) and returns
    /// its value; the nodes it leaves empty are pruned.
    pub fn remove(&mut self, filter: &str) -> Option<T> {
        let levels: Vec<&str> = filter.split('/').collect();
        let mut node = &mut self.root;
        for level in &levels {
            node = node.children.get_mut(*level)?;
        }
        let (_, value) = node.entry.take()?;
        self.len -= 1;
        // Find the shallowest node on the path below which nothing is left,
        // then cut it off its parent.
        let mut cut: Option<usize> = None;
        let mut node = &self.root;
        for (depth, level) in levels.iter().enumerate() {
            let Some(child) = node.children.get(*level) else {
                break; // unreachable: the path was just walked
            };
            node = child;
            let is_last = depth + 1 == levels.len();
            let needed = node.entry.is_some() || node.children.len() > usize::from(!is_last);
            if needed {
                cut = None;
            } else if cut.is_none() {
                cut = Some(depth);
            }
        }
        if let Some(depth) = cut {
            let mut parent = &mut self.root;
            for level in &levels[..depth] {
                match parent.children.get_mut(*level) {
                    Some(child) => parent = child,
                    None => return Some(value), // unreachable, as above
                }
            }
            parent.children.remove(levels[depth]);
        }
        Some(value)
    }

    /// Every filter that matches the topic name `topic`, with its value.
    pub fn matches<'a>(&'a self, topic: &'a str) -> Matches<'a, T> {
        Matches {
            levels: topic.split('/').collect(),
            normal: !topic.starts_with('$'),
            stack: vec![Step::Visit(&self.root, 0)],
        }
    }

    /// Every filter with its value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        let mut stack = vec![&self.root];
        std::iter::from_fn(move || {
            while let Some(node) = stack.pop() {
                stack.extend(node.children.values());
                if let Some((f, v)) = &node.entry {
                    return Some((f.as_str(), v));
                }
            }
            None
        })
    }
}

enum Step<'a, T> {
    /// Look at `node`, which `levels[..depth]` led to.
    Visit(&'a Node<T>, usize),
    /// Report an entry.
    Yield(&'a (String, T)),
}

/// The iterator of [`TopicMatcher::matches`]. It keeps its own stack, so a
/// topic with many levels cannot overflow the thread's stack.
pub struct Matches<'a, T> {
    levels: Vec<&'a str>,
    normal: bool,
    stack: Vec<Step<'a, T>>,
}

impl<'a, T> Iterator for Matches<'a, T> {
    type Item = (&'a str, &'a T);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(step) = self.stack.pop() {
            let (node, depth) = match step {
                Step::Yield((filter, value)) => return Some((filter.as_str(), value)),
                Step::Visit(node, depth) => (node, depth),
            };
            let wildcards = self.normal || depth > 0;
            // Pushed in reverse of the order they are reported in.
            if wildcards {
                if let Some(entry) = node.children.get("#").and_then(|n| n.entry.as_ref()) {
                    self.stack.push(Step::Yield(entry));
                }
            }
            if depth == self.levels.len() {
                if let Some(entry) = &node.entry {
                    self.stack.push(Step::Yield(entry));
                }
                continue;
            }
            if wildcards {
                if let Some(plus) = node.children.get("+") {
                    self.stack.push(Step::Visit(plus, depth + 1));
                }
            }
            if let Some(exact) = node.children.get(self.levels[depth]) {
                self.stack.push(Step::Visit(exact, depth + 1));
            }
        }
        None
    }
}
