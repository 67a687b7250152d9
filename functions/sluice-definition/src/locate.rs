//! Where a field is in the file: a problem found after reading (a stage named twice,
//! a window that does not parse) is reported at the line that says it.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A line and column, both from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub line: usize,
    pub column: usize,
}

/// The place of every field and list item of a YAML document, by path
/// (`stages[1].windows.when`).
#[derive(Debug, Default)]
pub struct Places {
    found: HashMap<String, Place>,
}

impl Places {
    /// The places in `text`; none if it is not YAML (reading it says why).
    pub fn of(text: &str) -> Places {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        // A document that does not parse has no places; serde's error has its own.
        let _ = parser.load(&mut walker, false);
        Places {
            found: walker.found,
        }
    }

    /// The place of `path`, or of the nearest field around it that the file has
    /// (a field left to its default is reported where its parent is).
    pub fn find(&self, path: &str) -> Option<Place> {
        let mut path = path;
        loop {
            if let Some(place) = self.found.get(path) {
                return Some(*place);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    found: HashMap<String, Place>,
}

impl Walker {
    fn remember(&mut self, path: &str, mark: Marker) {
        self.found.entry(path.to_owned()).or_insert(Place {
            line: mark.line(),
            // yaml-rust2 counts columns from 0.
            column: mark.col() + 1,
        });
    }

    /// The path of the value that starts here, the container it is in moved on.
    fn value(&mut self, mark: Marker) -> String {
        let path = match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Map { path, key }) => {
                let key = key.take().unwrap_or_default();
                join(path, &key)
            }
            Some(Frame::Seq { path, next }) => {
                let item = format!("{path}[{next}]");
                *next += 1;
                item
            }
        };
        self.remember(&path, mark);
        path
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::MappingStart(..) => {
                let path = self.value(mark);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.value(mark);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Scalar(text, ..) => {
                // A mapping's key: its field's place is the key's.
                if let Some(Frame::Map { path, key }) = self.stack.last_mut()
                    && key.is_none()
                {
                    let field = join(path, &text);
                    *key = Some(text);
                    self.remember(&field, mark);
                    return;
                }
                self.value(mark);
            }
            Event::Alias(..) => {
                self.value(mark);
            }
            _ => {}
        }
    }
}
