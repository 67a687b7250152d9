//! What comes in from outside (people, AWS), bounded before it is applied.

use super::{ARN_MAX, COMMENT_MAX, NAME_MAX, NOTE_AUTHOR_MAX, NOTE_TEXT_MAX, REASON_MAX};
use crate::event::{Event, Via};
use crate::text;

/// The event with its text from outside (people, AWS) bounded and made safe to show.
pub(super) fn clean(event: Event) -> Event {
    let reason = |r: String| text::line(&r, REASON_MAX);
    let by = |via: &Via, b: String| match via {
        Via::Link { .. } => text::line(&b, NAME_MAX),
        Via::Identity => text::line(&b, ARN_MAX),
    };
    let comment = |c: Option<String>| {
        c.map(|c| text::block(&c, COMMENT_MAX))
            .filter(|c| !c.is_empty())
    };
    match event {
        Event::BuildFailed {
            build_id,
            reason: r,
            log_url,
            cause,
        } => Event::BuildFailed {
            build_id,
            reason: reason(r),
            log_url,
            cause,
        },
        Event::ChangeSetFailed {
            stage,
            change_set_id,
            reason: r,
            cause,
        } => Event::ChangeSetFailed {
            stage,
            change_set_id,
            reason: reason(r),
            cause,
        },
        Event::ArtifactRejected { reason: r } => Event::ArtifactRejected { reason: reason(r) },
        Event::StackUpdateFailed {
            stage,
            reason: r,
            cause,
        } => Event::StackUpdateFailed {
            stage,
            reason: reason(r),
            cause,
        },
        Event::TestFailed {
            stage,
            build_id,
            reason: r,
            log_url,
            cause,
        } => Event::TestFailed {
            stage,
            build_id,
            reason: reason(r),
            log_url,
            cause,
        },
        Event::RollbackImpossible { stage, reason: r } => Event::RollbackImpossible {
            stage,
            reason: reason(r),
        },
        Event::AlarmFired {
            stage,
            alarm,
            reason: r,
        } => Event::AlarmFired {
            stage,
            alarm: text::line(&alarm, 255),
            reason: reason(r),
        },
        Event::ApprovalGranted {
            stage,
            via,
            by: b,
            comment: c,
        } => Event::ApprovalGranted {
            by: by(&via, b),
            stage,
            via,
            comment: comment(c),
        },
        Event::ApprovalRejected {
            stage,
            via,
            by: b,
            comment: c,
        } => Event::ApprovalRejected {
            by: by(&via, b),
            stage,
            via,
            comment: comment(c),
        },
        Event::ApprovalLinkReplaced { stage, by: b } => Event::ApprovalLinkReplaced {
            stage,
            by: text::line(&b, ARN_MAX),
        },
        Event::Cancelled { by: b } => Event::Cancelled {
            by: text::line(&b, ARN_MAX),
        },
        Event::Retried { by: b } => Event::Retried {
            by: text::line(&b, ARN_MAX),
        },
        // One past the limits, so that cutting never makes an over-long note fit.
        Event::NoteAdded { author, text: t } => Event::NoteAdded {
            author: text::line(&author, NOTE_AUTHOR_MAX + 1),
            text: text::block(&t, NOTE_TEXT_MAX + 1),
        },
        other => other,
    }
}
