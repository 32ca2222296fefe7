//! The apps Roomwire serves. Each is one module and one line in [`all`].

pub mod conference;
pub mod study_groups;

use crate::server::App;

/// Every app of this build, in registration order.
pub fn all() -> Vec<Box<dyn App>> {
    vec![
        Box::new(conference::ConferenceApp),
        Box::new(study_groups::StudyGroupsApp::default()),
    ]
}
