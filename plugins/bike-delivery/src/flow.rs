//! The task state machine: one table says which action moves a task from
//! which state to which. Every change goes through [`next`], and is then
//! written with compare-and-swap on the order's version.

use crate::exports::coop::delivery::types::TaskState;

/// What can be done to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A courier takes it (self-assignment or a dispatcher's choice).
    Assign,
    /// Given back before it started.
    Unassign,
    /// The courier is on it.
    Start,
    /// Done.
    Complete,
    /// It could not be done.
    Fail,
    /// A failed task is tried again.
    Reschedule,
    /// A failed delivery goes back to the store.
    Return,
    /// Called off.
    Cancel,
}

impl Action {
    /// The action's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Action::Assign => "assign",
            Action::Unassign => "unassign",
            Action::Start => "start",
            Action::Complete => "complete",
            Action::Fail => "fail",
            Action::Reschedule => "reschedule",
            Action::Return => "return",
            Action::Cancel => "cancel",
        }
    }
}

/// The state's name in messages (as in the WIT).
pub fn state_name(s: TaskState) -> &'static str {
    match s {
        TaskState::Todo => "todo",
        TaskState::Assigned => "assigned",
        TaskState::Doing => "doing",
        TaskState::Done => "done",
        TaskState::Failed => "failed",
        TaskState::Returned => "returned",
        TaskState::Cancelled => "cancelled",
    }
}

/// The transition table.
const TABLE: &[(TaskState, Action, TaskState)] = &[
    (TaskState::Todo, Action::Assign, TaskState::Assigned),
    (TaskState::Assigned, Action::Unassign, TaskState::Todo),
    (TaskState::Assigned, Action::Start, TaskState::Doing),
    (TaskState::Doing, Action::Complete, TaskState::Done),
    (TaskState::Assigned, Action::Fail, TaskState::Failed),
    (TaskState::Doing, Action::Fail, TaskState::Failed),
    (TaskState::Failed, Action::Reschedule, TaskState::Todo),
    (TaskState::Failed, Action::Return, TaskState::Returned),
    (TaskState::Todo, Action::Cancel, TaskState::Cancelled),
    (TaskState::Assigned, Action::Cancel, TaskState::Cancelled),
    (TaskState::Failed, Action::Cancel, TaskState::Cancelled),
];

/// The state `action` leads to from `from`, or a message for a `conflict`
/// naming the task, the state and the actions it allows.
pub fn next(task: &str, from: TaskState, action: Action) -> Result<TaskState, String> {
    if let Some((_, _, to)) = TABLE.iter().find(|(f, a, _)| *f == from && *a == action) {
        return Ok(*to);
    }
    let allowed: Vec<&str> = TABLE
        .iter()
        .filter(|(f, _, _)| *f == from)
        .map(|(_, a, _)| a.name())
        .collect();
    let allowed = if allowed.is_empty() {
        "nothing: it is final".to_string()
    } else {
        allowed.join(", ")
    };
    Err(format!(
        "task {task} is {}: cannot {}; from {} it allows {allowed}",
        state_name(from),
        action.name(),
        state_name(from)
    ))
}

/// Whether nothing more can happen to a task in `s`.
pub fn is_final(s: TaskState) -> bool {
    matches!(
        s,
        TaskState::Done | TaskState::Returned | TaskState::Cancelled
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [TaskState; 7] = [
        TaskState::Todo,
        TaskState::Assigned,
        TaskState::Doing,
        TaskState::Done,
        TaskState::Failed,
        TaskState::Returned,
        TaskState::Cancelled,
    ];
    const ACTIONS: [Action; 8] = [
        Action::Assign,
        Action::Unassign,
        Action::Start,
        Action::Complete,
        Action::Fail,
        Action::Reschedule,
        Action::Return,
        Action::Cancel,
    ];

    #[test]
    fn the_happy_path_goes_todo_assigned_doing_done() {
        let mut s = TaskState::Todo;
        for a in [Action::Assign, Action::Start, Action::Complete] {
            s = next("d-1.pickup", s, a).unwrap();
        }
        assert_eq!(s, TaskState::Done);
    }

    #[test]
    fn failures_end_rescheduled_returned_or_cancelled() {
        let failed = next("t", TaskState::Doing, Action::Fail).unwrap();
        assert_eq!(failed, TaskState::Failed);
        assert_eq!(next("t", failed, Action::Reschedule), Ok(TaskState::Todo));
        assert_eq!(next("t", failed, Action::Return), Ok(TaskState::Returned));
        assert_eq!(next("t", failed, Action::Cancel), Ok(TaskState::Cancelled));
    }

    #[test]
    fn exactly_the_table_is_allowed() {
        // 11 allowed pairs of the 56; every other pair is refused with the
        // task, its state and what it allows.
        let mut allowed = 0;
        for s in STATES {
            for a in ACTIONS {
                match next("d-9.dropoff", s, a) {
                    Ok(_) => allowed += 1,
                    Err(m) => {
                        assert!(m.starts_with("task d-9.dropoff is "), "{m}");
                        assert!(m.contains(&format!("cannot {}", a.name())), "{m}");
                    }
                }
            }
        }
        assert_eq!(allowed, 11);
        assert_eq!(
            next("t", TaskState::Done, Action::Cancel).unwrap_err(),
            "task t is done: cannot cancel; from done it allows nothing: it is final"
        );
        assert_eq!(
            next("t", TaskState::Todo, Action::Start).unwrap_err(),
            "task t is todo: cannot start; from todo it allows assign, cancel"
        );
    }

    #[test]
    fn final_states_allow_nothing() {
        for s in STATES {
            let any = ACTIONS.iter().any(|a| next("t", s, *a).is_ok());
            assert_eq!(is_final(s), !any, "{}", state_name(s));
        }
    }
}
