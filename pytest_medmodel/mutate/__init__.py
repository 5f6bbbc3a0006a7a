"""Model mutations: deliberate, seeded damage to a loaded model, to test whether suites notice."""
