package cli

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/regmirror/regmirror/internal/logging"
	"github.com/regmirror/regmirror/internal/serve"
)

func newServe() *cobra.Command {
	var cf configFlags
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the mirror",
		Long: "Run the mirror. Without --config it listens on :5000, caches in ./data and mirrors\n" +
			"docker.io, gcr.io, registry.k8s.io (alias k8s.gcr.io), quay.io, ghcr.io and mcr.microsoft.com.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := cf.load()
			if err != nil {
				return err
			}
			if listen != "" {
				cfg.Listen = listen
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				// The live heap is small (blobs are streamed, never held),
				// so collecting less often costs little memory and saves
				// CPU on every request. GOGC in the environment wins.
				debug.SetGCPercent(400)
			}
			log := logging.New(cmd.ErrOrStderr(), cfg.Log)
			defer log.Close()
			app, err := serve.Build(cmd.Context(), cfg, log.Logger, serve.WithAccessLog(log.Access))
			if err != nil {
				return err
			}
			return app.Run(cmd.Context())
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVarP(&listen, "listen", "l", "", "listen address (overrides listen), e.g. :5000 or 127.0.0.1:5000")
	return cmd
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write([]byte("regmirror " + serve.Version + "\n"))
			return err
		},
	}
}
