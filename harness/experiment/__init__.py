"""An experiment run as a short pipeline of stages over plain item records:

    plan (cells: model x decoding x repeat)  -> harness.experiment.plan
    retrieve once per question               -> harness.experiment.retrieve
    generate through the cache               -> harness.experiment.generate (+ .store, the cache)
    trim the tails                           -> harness.experiment.trim   (rules: harness.trimming)
    score (before and after trimming)        -> harness.experiment.score
    aggregate                                -> harness.results.schema
    render                                   -> harness.results.render

The run folder, its lock and resume live in harness.experiment.rundir; harness.evaluate wires
the stages together.
"""
