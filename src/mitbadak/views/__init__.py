"""What is shown: the figure registry and plots, fonts, the descent surfaces, chapter 5's
computational graphs, decision boundaries, layer inspection; ``run_curves`` gives training's run
folders their PNGs. Imports every layer below it, nothing above (docs/architecture.md)."""
