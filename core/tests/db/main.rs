//! The database layer's conformance suite: every query module's contract, written
//! once against [`Database`] and run against each backend by [`run_suite!`]. A new
//! backend adds one line at the bottom, with a function that makes it a fresh,
//! migrated database.

mod actions;
mod copy;
mod servers;
mod support;
mod tokens;

/// Generates one `#[tokio::test]` per suite test for a backend.
macro_rules! run_suite {
    ($fresh:path; $($module:ident::$test:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                let (db, _guard) = $fresh().await;
                crate::$module::$test(db).await;
            }
        )+
    };
}

/// Every test of the suite, for each backend.
macro_rules! suite_for {
    ($fresh:path) => {
        run_suite!($fresh;
            servers::servers_are_listed_by_name_and_a_second_id_is_refused,
            servers::a_removed_server_is_hidden_locked_out_and_its_id_reusable,
            servers::a_package_list_keeps_first_seen_times_and_counts_exclude_held,
            servers::a_changed_list_is_stored_exactly_whatever_its_size,
            actions::one_action_per_slot_and_the_slot_is_named_for_the_conflict,
            actions::a_slot_held_only_while_waiting_is_freed_by_the_claim,
            actions::transitions_happen_only_from_the_allowed_statuses,
            actions::claims_take_the_oldest_approved_action_once,
            actions::a_result_finishes_an_executing_action_or_a_lost_one_late,
            actions::expired_leases_fail_as_agent_lost_and_free_the_slot,
            actions::leases_are_extended_never_shortened,
            actions::live_output_grows_to_its_tail_until_the_result_replaces_it,
            actions::history_pages_filter_and_walk_newest_first,
            actions::a_request_id_names_one_action_per_actor,
            tokens::sessions_end_by_token_by_user_and_all_but_one,
            tokens::api_tokens_are_found_listed_and_deleted,
            tokens::a_session_opens_only_while_the_checked_password_is_current,
        );
    };
}

mod sqlite {
    suite_for!(crate::support::fresh_sqlite);
}

/// Needs `HOMELAB_TEST_POSTGRES_URL` (`./scripts/test` starts a throw-away cluster).
mod postgres {
    suite_for!(crate::support::fresh_postgres);
}
