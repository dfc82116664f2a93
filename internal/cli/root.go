// Package cli defines regmirror's commands (cobra): serve, version, and the
// operator tools. Each command parses its flags, loads the configuration and
// calls into the packages that do the work.
package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/regmirror/regmirror/internal/config"
)

// New returns the root command.
func New(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "regmirror",
		Short:         "A pull-through mirror for container images",
		Long:          "regmirror mirrors Docker Hub, gcr.io, registry.k8s.io, quay.io, ghcr.io, mcr.microsoft.com\nand any registry you add, behind one endpoint, with a streamed, verified cache.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServe(), newVersion(), newCache(), newPrefetch())
	return root
}

// configFlags are the flags every command that reads the configuration takes.
type configFlags struct {
	file string
	data string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.file, "config", "c", "", "configuration file (YAML); without it the built-in defaults are used")
	cmd.Flags().StringVar(&f.data, "data", "", "data directory (overrides storage.path)")
}

// load reads the configuration file, or the defaults, and applies overrides.
func (f *configFlags) load() (*config.Config, error) {
	cfg := config.Default()
	if f.file != "" {
		var err error
		if cfg, err = config.Load(f.file); err != nil {
			return nil, err
		}
	}
	if f.data != "" {
		cfg.Storage.Path = f.data
	}
	return cfg, nil
}
